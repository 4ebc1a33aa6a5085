export { countNonFinite, type NonFiniteCount } from './nonfinite.js';
export { psnr, type PsnrOptions } from './psnr.js';
export { ssim, ssimPlanes, SSIM_WINDOW, SSIM_MIN_SIDE, type SsimOptions } from './ssim.js';
export { maxAbsError, meanAbsError } from './errors.js';
export { meanStd, type MeanStd } from './summary.js';
