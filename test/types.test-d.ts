// Type-level tests of the public API: nothing here runs. `npm run typecheck`
// (tsc over test/) checks them, and CI runs that; an `@ts-expect-error` that
// stops erroring fails the check too, so each negative case can fail.
import { expectTypeOf } from 'vitest';

import {
  AF_INET, AF_INET6, AF_UNIX, type Address, type AddressOf, createConnection, createServer,
  DefaultSelector, EpollSelector, EventLoop, type FileObject, PollSelector, Selector,
  type SelectorKey, Socket, socketpair, Waker,
} from '../src/index.js';

// ---- Selector: generic over the data and the file objects -------------------

function selectorTypes(): void {
  // Registered Sockets come back as Sockets: recv with no cast.
  const sockets = new Selector<string, Socket>();
  for (const [key] of sockets.select(0)) {
    expectTypeOf(key.fileobj).toEqualTypeOf<Socket>();
    expectTypeOf(key.data).toEqualTypeOf<string>();
    expectTypeOf(key.fileobj.recv(10)).toEqualTypeOf<Buffer>();
  }
  expectTypeOf(sockets.getKey(3)).toEqualTypeOf<SelectorKey<string, Socket>>();
  expectTypeOf(sockets.getMap()).toEqualTypeOf<ReadonlyMap<number, SelectorKey<string, Socket>> | null>();
  // @ts-expect-error: a selector of Sockets takes no bare fd to register...
  sockets.register(3, 1);
  // ...but finds, modifies and unregisters by fd as well as by object.
  sockets.unregister(3);

  // The old spellings still compile: Selector<T> is data only, fileobj the union.
  const old = new Selector<number>();
  expectTypeOf(old.register(0, 1, 5)).toEqualTypeOf<SelectorKey<number>>();
  expectTypeOf(old.register(0, 1, 5).fileobj).toEqualTypeOf<FileObject>();
  const plain = new DefaultSelector();
  expectTypeOf(plain.select()).toEqualTypeOf<Array<[SelectorKey<unknown, FileObject>, number]>>();
  for (const [key] of plain.select(0)) {
    // @ts-expect-error: the union has no recv; that is what the F parameter is for.
    key.fileobj.recv(1);
  }

  // Sockets and Wakers together, and the backend subclasses.
  const mixed = new EpollSelector<null, Socket | Waker>();
  const [key] = mixed.select(0)[0] ?? [];
  if (key !== undefined && key.fileobj instanceof Waker) expectTypeOf(key.fileobj.drain()).toEqualTypeOf<boolean>();
  expectTypeOf(new PollSelector<null, Waker>().register(new Waker(), 1).fileobj).toEqualTypeOf<Waker>();
}

// ---- Socket: addresses typed by family ---------------------------------------

function socketTypes(): void {
  expectTypeOf(new Socket(AF_INET).getsockname()).toEqualTypeOf<[host: string, port: number]>();
  expectTypeOf(new Socket(AF_INET6).getpeername()).toEqualTypeOf<[host: string, port: number]>();
  expectTypeOf(new Socket(AF_UNIX).getsockname()).toEqualTypeOf<string>();
  // A family the type system cannot know gives either kind.
  expectTypeOf(new Socket().getsockname()).toEqualTypeOf<Address>();
  const family: number = AF_INET;
  expectTypeOf(new Socket(family).getsockname()).toEqualTypeOf<Address>();
  expectTypeOf(new Socket(2).getsockname()).toEqualTypeOf<Address>();
  expectTypeOf<AddressOf<typeof AF_INET | typeof AF_UNIX>>().toEqualTypeOf<Address>();

  // The port with no cast.
  const [, port] = new Socket(AF_INET).getsockname();
  expectTypeOf(port).toEqualTypeOf<number>();
  // @ts-expect-error: a Unix socket's address is a path, not a pair.
  const nope: number = new Socket(AF_UNIX).getsockname()[1];
  void nope;

  // accept keeps the family; the constants are still numbers.
  const [conn, peer] = new Socket(AF_INET6).accept();
  expectTypeOf(conn).toEqualTypeOf<Socket<typeof AF_INET6>>();
  expectTypeOf(peer).toEqualTypeOf<Address>();
  expectTypeOf(AF_INET).toMatchTypeOf<number>();
  const sum: number = AF_INET + 1;
  void sum;

  // A typed socket is still a Socket wherever one is expected.
  const take = (sock: Socket): number => sock.fileno();
  take(conn);

  // The convenience constructors know the family from the address.
  expectTypeOf(createServer(['127.0.0.1', 0]).getsockname()).toEqualTypeOf<[host: string, port: number]>();
  expectTypeOf(createServer('/tmp/x.sock').getsockname()).toEqualTypeOf<string>();
  expectTypeOf(createConnection(['::1', 80]).getpeername()).toEqualTypeOf<[host: string, port: number]>();
  const connectTo = (address: Address): Socket => createConnection(address);
  expectTypeOf(connectTo).returns.toEqualTypeOf<Socket>();
  expectTypeOf(createConnection).toBeCallableWith(['127.0.0.1', 80] as Address);
  expectTypeOf(socketpair()).toEqualTypeOf<[Socket<typeof AF_UNIX>, Socket<typeof AF_UNIX>]>();
  expectTypeOf(socketpair(AF_INET)[0].getsockname()).toEqualTypeOf<[host: string, port: number]>();
}

// ---- The loop -------------------------------------------------------------------

function loopTypes(loop: EventLoop, listener: Socket<typeof AF_INET>): void {
  function* serve(): Generator<unknown, void, unknown> {
    const [conn] = yield* loop.sockAccept(listener);
    expectTypeOf(conn).toEqualTypeOf<Socket<typeof AF_INET>>();
  }
  void serve;
}

void selectorTypes;
void socketTypes;
void loopTypes;
