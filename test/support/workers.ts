// Worker threads that run TypeScript files: the worker registers tsx's
// loader itself, since loaders given to the parent do not reach workers.
import { Worker } from 'node:worker_threads';

export function tsWorker(file: URL, workerData?: unknown): Worker {
  const bootstrap = `
    import('tsx/esm/api')
      .then(({ register }) => { register(); return import(${JSON.stringify(file.href)}); })
      .catch((error) => { process.nextTick(() => { throw error; }); });`;
  return new Worker(bootstrap, { eval: true, workerData });
}
