export function mergeNanScan(_dirs: readonly string[]): { files: Map<string, Uint8Array>; ok: boolean; lines: string[] } { throw new Error("todo"); }
