/** Which share of a run's units a sharded run takes. (Parsing `--shard` and the CI variables is the CLI's: commands/_shard-spec.ts.) */
export interface ShardSpec {
  /** 1-based */
  index: number;
  total: number;
}
