// CI: CHANGELOG.md (Keep a Changelog) must have an "Unreleased" section and
// a dated entry for the version in package.json, so a release cannot go out
// without saying what changed.
//
//   node scripts/check-changelog.mjs [CHANGELOG] [PACKAGE_JSON]
import { readFileSync } from 'node:fs';

const [changelogPath = 'CHANGELOG.md', packagePath = 'package.json'] = process.argv.slice(2);
const { version } = JSON.parse(readFileSync(packagePath, 'utf8'));
const changelog = readFileSync(changelogPath, 'utf8');
const escaped = version.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const problems = [];
if (!/^## \[Unreleased\]\s*$/m.test(changelog)) problems.push('no "## [Unreleased]" section');
const entry = new RegExp(`^## \\[${escaped}\\] - (\\d{4}-\\d{2}-\\d{2})\\s*$`, 'm').exec(changelog);
if (entry === null) {
  problems.push(`no "## [${version}] - YYYY-MM-DD" entry for package.json's version`);
} else {
  const body = changelog.slice(entry.index + entry[0].length).split(/^## /m)[0];
  if (!/^- /m.test(body)) problems.push(`the ${version} entry lists no changes`);
}

if (problems.length > 0) {
  console.error(`${changelogPath}: ${problems.join('; ')}`);
  process.exit(1);
}
console.log(`${changelogPath}: has an entry for ${version}`);
