/** Grid sweeps: stable run ids, locks, sharding across machines, and the report the notebooks read. */
export * from './grid';
export * from './run-id';
export * from './shard';
export * from '../../util/lock';
export * from './runner';
export * from './trainer-process';
export * from './report';
