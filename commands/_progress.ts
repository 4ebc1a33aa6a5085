/**
 * Progress bars for every long command, the only module that imports cli-progress.
 *
 * The bars are drawn on stderr, and whether to draw them is decided from stderr too: only when it is a
 * terminal and neither --no-progress nor --quiet was given. So stdout stays clean for pipes and --json,
 * and a log file that stderr was redirected to never receives bar text. Each line is made to fit the
 * terminal's width (no cut lines at 60 columns: the label shortens first, then the bar), every field
 * is filled on every redraw, a task's bar disappears when the task completes, and the rest are erased
 * when the work is done.
 */
import cliProgress from 'cli-progress';
import type { StepProgress } from '../src/progress.js';

export interface ProgressFlags {
  progress?: boolean;
  quiet?: boolean;
}

/** Whether bars are drawn: stderr is a terminal, and the flags allow it. */
export function progressWanted(flags: ProgressFlags, stream: NodeJS.WriteStream = process.stderr): boolean {
  return flags.progress !== false && !flags.quiet && stream.isTTY === true;
}

interface Payload {
  label: string;
  stage: string;
  /** text after the counts, e.g. "12.3 MB / 334.6 MB"; default "value/total" */
  amount?: string;
}

const FILLED = '\u2588';
const EMPTY = '\u2591';

/** One bar line fitted into `width` columns: "label |████░░░░| stage 3/6". Exported for tests. */
export function barLine(width: number, progress: number, p: Payload, value: number, total: number): string {
  const room = Math.max(10, width - 1);
  const amount = p.amount ?? `${value}/${total}`;
  const tail = ` ${p.stage} ${amount}`;
  let label = p.label;
  // the label gets at most 40% of the line; the bar between 10 and 30 columns; the rest is the tail
  const maxLabel = Math.max(8, Math.floor(room * 0.4));
  if ([...label].length > maxLabel) label = `${[...label].slice(0, maxLabel - 1).join('')}\u2026`;
  const barSize = Math.min(30, room - [...label].length - 4 - [...tail].length);
  let line: string;
  if (barSize >= 10) {
    const filled = Math.round(Math.max(0, Math.min(1, progress)) * barSize);
    line = ` ${label} |${FILLED.repeat(filled)}${EMPTY.repeat(barSize - filled)}|${tail}`;
  } else line = ` ${label}${tail}`;
  const chars = [...line];
  return chars.length > room ? `${chars.slice(0, room - 1).join('')}\u2026` : line;
}

/** A set of bars, one per task; does nothing at all when bars are not wanted. */
export class Progress {
  private multi?: cliProgress.MultiBar;
  private readonly bars = new Map<string, cliProgress.SingleBar>();

  constructor(readonly enabled: boolean) {}

  static for(flags: ProgressFlags): Progress {
    return new Progress(progressWanted(flags));
  }

  /** Updates (or starts) the bar of `e.task`. */
  readonly update = (e: StepProgress & { amount?: string }): void => {
    if (!this.enabled) return;
    this.multi ??= new cliProgress.MultiBar({
      format: (_opts, params, payload) => barLine(params.maxWidth, params.progress, payload as Payload, params.value, params.total),
      clearOnComplete: true,
      hideCursor: true,
      stream: process.stderr,
    });
    const payload: Payload = { label: e.task, stage: e.stage, amount: e.amount };
    const total = Math.max(1, e.total);
    let bar = this.bars.get(e.task);
    if (!bar) {
      bar = this.multi.create(total, e.done, payload);
      this.bars.set(e.task, bar);
    }
    bar.setTotal(total);
    bar.update(e.done, payload);
    // a finished task's bar goes away, so only work in progress takes lines
    if (e.done >= total) {
      this.multi.remove(bar);
      this.bars.delete(e.task);
    }
  };

  /** Erases the bars (call when done, also on failure). */
  stop(): void {
    this.multi?.stop();
    this.multi = undefined;
    this.bars.clear();
  }

  /** Runs `work` with this progress, stopping it afterwards whatever happens. */
  async around<T>(work: (update: (e: StepProgress) => void) => Promise<T>): Promise<T> {
    try {
      return await work(this.update);
    } finally {
      this.stop();
    }
  }
}
