/**
 * The AutoencoderKL families: one architecture, four latent layouts. SD 1.x/2.x and SDXL have 4
 * latent channels and the 1x1 quant convs; SD3/3.5 and FLUX.1 have 16 latent channels, no quant
 * convs and a shift. Within each pair every tensor shape is the same, so the weights alone cannot say
 * which scaling applies: the family is then stated by the user, by config.json, by the other keys of a
 * whole checkpoint, or taken by default, and every output says which (see ARCHITECTURE.md, "Families").
 */
import { BadInputError } from '../errors.js';
import type { FactorSource, FamilyChoice, VaeArchitecture, VaeFamily } from './vae-architecture.js';

export interface FamilyLayout {
  /** e.g. 'FLUX.1' */
  name: string;
  latentChannels: number;
  /** diffusion-space latents = (raw - shiftFactor) * scalingFactor */
  scalingFactor: number;
  shiftFactor: number;
  /** quant_conv / post_quant_conv present */
  quantConvs: boolean;
}

export const FAMILIES: Readonly<Record<VaeFamily, FamilyLayout>> = {
  sd15: { name: 'SD 1.x/2.x', latentChannels: 4, scalingFactor: 0.18215, shiftFactor: 0, quantConvs: true },
  sdxl: { name: 'SDXL', latentChannels: 4, scalingFactor: 0.13025, shiftFactor: 0, quantConvs: true },
  sd3: { name: 'SD3/3.5', latentChannels: 16, scalingFactor: 1.5305, shiftFactor: 0.0609, quantConvs: false },
  flux: { name: 'FLUX.1', latentChannels: 16, scalingFactor: 0.3611, shiftFactor: 0.1159, quantConvs: false },
};

export const FAMILY_NAMES = Object.keys(FAMILIES) as VaeFamily[];

/** Without a statement, the family taken for a latent channel count (the historic default for 4: SDXL). */
const DEFAULT_FAMILY: Record<number, VaeFamily> = { 4: 'sdxl', 16: 'flux' };

/** What the user states about the latent space; each field overrides what the file says. */
export interface LatentSpaceRequest {
  family?: VaeFamily;
  scalingFactor?: number;
  shiftFactor?: number;
}

export interface LatentSpace {
  family: FamilyChoice;
  scalingFactor: number;
  shiftFactor: number;
  scalingFactorSource: FactorSource;
}

/** The families sharing every tensor shape with one of this many latent channels. */
export function familiesWithChannels(latentChannels: number): VaeFamily[] {
  return FAMILY_NAMES.filter((f) => FAMILIES[f].latentChannels === latentChannels);
}

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));

/**
 * Decides the family and the latent factors of a VAE. Precedence: explicit factors, then a requested
 * family, then config.json, then the family a whole checkpoint's other keys show, then the default
 * for the channel count.
 * @param config scaling_factor / shift_factor of a diffusers config.json, when there is one
 * @param checkpointFamily the family the file's non-VAE keys show (whole checkpoints), if any
 * @throws BadInputError when a requested family has another latent channel count than the VAE
 */
export function chooseLatentSpace(
  file: string,
  latentChannels: number,
  config: { scaling_factor?: number; shift_factor?: number | null } | undefined,
  checkpointFamily: VaeFamily | undefined,
  request: LatentSpaceRequest = {},
): LatentSpace {
  let family: FamilyChoice;
  if (request.family) {
    const f = FAMILIES[request.family];
    if (f.latentChannels !== latentChannels) {
      throw new BadInputError(file, `has ${latentChannels} latent channels; the ${f.name} family (${request.family}) has ${f.latentChannels}`);
    }
    family = { family: request.family, source: 'family-flag' };
  } else if (config?.scaling_factor !== undefined) {
    // the config's factors name the family when they are one's; other factors are a custom latent space
    const match = familiesWithChannels(latentChannels).find(
      (f) => close(FAMILIES[f].scalingFactor, config.scaling_factor!) && close(FAMILIES[f].shiftFactor, config.shift_factor ?? 0),
    );
    family = { family: match ?? null, source: 'config' };
  } else if (checkpointFamily && FAMILIES[checkpointFamily].latentChannels === latentChannels) {
    family = { family: checkpointFamily, source: 'checkpoint' };
  } else {
    family = { family: DEFAULT_FAMILY[latentChannels] ?? null, source: 'default' };
  }
  const fam = family.family ? FAMILIES[family.family] : undefined;
  let scalingFactor: number;
  let shiftFactor: number;
  let source: FactorSource;
  if (family.source === 'config') {
    scalingFactor = config!.scaling_factor!;
    shiftFactor = config!.shift_factor ?? 0;
    source = 'config';
  } else {
    // no family for an unusual channel count: SDXL's factor, as before families were known
    scalingFactor = fam?.scalingFactor ?? FAMILIES.sdxl.scalingFactor;
    shiftFactor = fam?.shiftFactor ?? 0;
    source = family.source;
  }
  if (request.scalingFactor !== undefined || request.shiftFactor !== undefined) {
    scalingFactor = request.scalingFactor ?? scalingFactor;
    shiftFactor = request.shiftFactor ?? shiftFactor;
    source = 'flag';
  }
  return { family, scalingFactor, shiftFactor, scalingFactorSource: source };
}

/** True when the VAE's family was taken by default although another family has the same shapes. */
export function familyIsAmbiguousDefault(arch: VaeArchitecture): boolean {
  return arch.scalingFactorSource === 'default' && familiesWithChannels(arch.latentChannels).length > 1;
}

/** "the weights cannot tell SD 1.x/2.x from SDXL", for a defaulted family; '' otherwise. */
export function ambiguity(arch: VaeArchitecture): string {
  if (!familyIsAmbiguousDefault(arch)) return '';
  const names = familiesWithChannels(arch.latentChannels).map((f) => FAMILIES[f].name);
  return `the weights cannot tell ${names.slice(0, -1).join(', ')} from ${names[names.length - 1]}`;
}

const SOURCE_TEXT: Record<FactorSource, string> = {
  flag: 'stated',
  'family-flag': 'family stated',
  config: 'config.json',
  checkpoint: 'whole checkpoint',
  default: 'default',
};

/**
 * One line saying what the VAE is taken to be and where that came from, e.g.
 * `FLUX.1-style: 16 latent channels, no quant convs, scaling 0.3611, shift 0.1159 (config.json)`.
 */
export function describeLatentSpace(arch: VaeArchitecture): string {
  const name = arch.family.family ? `${FAMILIES[arch.family.family].name}-style` : 'custom latent space';
  const convs = arch.quantConv && arch.postQuantConv ? 'quant convs' : !arch.quantConv && !arch.postQuantConv ? 'no quant convs' : arch.postQuantConv ? 'post_quant_conv only' : 'quant_conv only';
  const shift = arch.shiftFactor !== 0 ? `shift ${arch.shiftFactor}` : 'no shift';
  let source = SOURCE_TEXT[arch.scalingFactorSource];
  if (arch.scalingFactorSource === 'default') source = `default for ${arch.latentChannels} latent channels${familyIsAmbiguousDefault(arch) ? `: ${ambiguity(arch)}` : ''}`;
  return `${name}: ${arch.latentChannels} latent channels, ${convs}, scaling ${arch.scalingFactor}, ${shift} (${source})`;
}

/** Why two VAEs cannot decode the same latents, or null when they can. */
export function latentsNotInterchangeable(a: VaeArchitecture, b: VaeArchitecture): string | null {
  if (a.latentChannels !== b.latentChannels) return `${a.latentChannels} latent channels against ${b.latentChannels}: a latent of one cannot feed the other`;
  const fa = a.family.family;
  const fb = b.family.family;
  // families known on both sides (not merely defaulted) and different: different latent spaces
  if (fa && fb && fa !== fb && a.family.source !== 'default' && b.family.source !== 'default') {
    return `${FAMILIES[fa].name} and ${FAMILIES[fb].name} latent spaces differ, though both have ${a.latentChannels} channels`;
  }
  return null;
}

/**
 * What a defaulted family means for the latents `origin` given in `space` with spread `std` to the VAE
 * `vae` (as the user named it), or null when the
 * family was stated (or no other family shares the shapes). Scaled latents have a spread near 1 in
 * every family, so only the default can be stated; raw latents spread near 1 / scaling_factor, which
 * tells the families apart, so a better fit with another family is named. Raw latents are decoded as
 * they are, so a fitting spread needs no note.
 */
export function defaultFamilyNote(arch: VaeArchitecture, vae: string, origin: string, space: 'scaled' | 'unscaled', std: number): string | null {
  if (!familyIsAmbiguousDefault(arch) || !arch.family.family) return null;
  const chosen = arch.family.family;
  const fam = FAMILIES[chosen];
  const others = familiesWithChannels(arch.latentChannels).filter((f) => f !== chosen);
  if (space === 'unscaled') {
    const misfit = (f: VaeFamily) => Math.abs(Math.log(std * FAMILIES[f].scalingFactor));
    const better = others.filter((f) => std > 0 && misfit(f) < misfit(chosen)).sort((a, b) => misfit(a) - misfit(b))[0];
    if (!better) return null;
    const b = FAMILIES[better];
    return `${origin}: latent std ${std.toFixed(2)} fits ${b.name} raw latents (about ${(1 / b.scalingFactor).toFixed(2)}) better than ${fam.name}'s (about ${(1 / fam.scalingFactor).toFixed(2)}), the family taken by default (${ambiguity(arch)}); if it is ${b.name}, pass --family ${better}`;
  }
  const shift = arch.shiftFactor !== 0 ? `, shift ${arch.shiftFactor}` : '';
  return `${vae}: latents taken as ${fam.name}'s (scaling ${arch.scalingFactor}${shift}), the default for ${arch.latentChannels} latent channels (${ambiguity(arch)}); pass --family ${others.join(' or ')} if it is ${others.map((f) => FAMILIES[f].name).join(' or ')}, or --family ${chosen} to state it`;
}
