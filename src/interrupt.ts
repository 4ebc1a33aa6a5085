/**
 * Ctrl-C during native work. onnxruntime-node builds sessions and runs graphs synchronously on the
 * main thread (inside a setImmediate), so a JavaScript SIGINT handler could only run after a run
 * ends, seconds or minutes later. While such work runs, the JS handlers are taken off: SIGINT and
 * SIGTERM then have their default action and end the process at once (status: killed by the signal,
 * 130 / 143 in a shell). Nothing visible is left: outputs are published only by a rename after the
 * work, and what a run keeps while working (its lock, a hidden staging folder) is named by its pid
 * and removed by the next run (io/output-files.ts). Between such calls the handlers are back and
 * clean up at once.
 */
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

export async function whileBlocking<T>(work: () => Promise<T>): Promise<T> {
  const saved = SIGNALS.map((s) => [s, process.listeners(s)] as const);
  if (saved.every(([, l]) => l.length === 0)) return work();
  for (const [s, ls] of saved) for (const l of ls) process.removeListener(s, l);
  try {
    return await work();
  } finally {
    for (const [s, ls] of saved) for (const l of ls) if (!process.listeners(s).includes(l)) process.on(s, l);
  }
}
