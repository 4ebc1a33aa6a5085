/**
 * What long library calls report while they work (compare's cells, gate's cases, nan-scan's parts,
 * baseline's decodes, fix's measurements): a task (e.g. a cell or a VAE), what it is doing, and how
 * far along it is. The library only reports; drawing belongs to the command layer.
 */
export interface StepProgress {
  /** what is being worked on, e.g. "demo-sdxl-vae@fp16" or "chelsea@fp16" */
  task: string;
  /** what it is doing, e.g. "building graph", "decoding", "done" */
  stage: string;
  done: number;
  total: number;
}

export type OnProgress = (e: StepProgress) => void;
