import { Args, Flags } from '@oclif/core';
import { describeLatentSpace } from '../src/architecture/family.js';
import { toJson } from '../src/format.js';
import { sha256File } from '../src/io/sha256.js';
import { VaecheckCommand, latentSpaceLine } from './_base.js';
import { VAE_ARG_HELP, loadVaeFromArg, vaeLoadFlags } from './_hub.js';

export default class Info extends VaecheckCommand {
  static summary = 'Describe a VAE: naming, storage dtype, architecture, family and latent factors, sha256';
  static description =
    'Reads a .safetensors file (diffusers or original Stability naming, any prefix, F32/F16/BF16), a diffusers folder, or a Hugging Face Hub repo ' +
    '(from the local Hugging Face cache, downloaded into it when missing) and prints what vaecheck found in it.';
  static examples = ['<%= config.bin %> info sdxl_vae.safetensors', '<%= config.bin %> info ./sdxl-vae-fp16-fix --json', '<%= config.bin %> info madebyollin/sdxl-vae-fp16-fix', '<%= config.bin %> info hf:stabilityai/stable-diffusion-xl-base-1.0/vae --variant fp16'];
  static args = { vae: Args.string({ description: VAE_ARG_HELP, required: true }) };
  static flags = { ...vaeLoadFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Info);
    const vae = await loadVaeFromArg(args.vae, flags, this.globals);
    const a = vae.arch;
    const info = {
      source: vae.source,
      weightsFile: vae.weightsFile,
      configFile: vae.configFile ?? null,
      naming: vae.naming,
      prefix: vae.prefix,
      storageDtype: vae.storageDtype,
      parameters: vae.paramCount,
      parts: [a.hasEncoder && 'encoder', a.hasDecoder && 'decoder'].filter(Boolean),
      architecture: {
        blockOutChannels: a.blockOutChannels,
        layersPerBlock: a.layersPerBlock,
        groups: a.groups,
        latentChannels: a.latentChannels,
        inChannels: a.inChannels,
        outChannels: a.outChannels,
        midAttention: a.midAttention,
        quantConv: a.quantConv,
        postQuantConv: a.postQuantConv,
      },
      family: a.family.family,
      familySource: a.family.source,
      latentSpace: describeLatentSpace(a),
      scalingFactor: a.scalingFactor,
      shiftFactor: a.shiftFactor,
      scalingFactorSource: a.scalingFactorSource,
      forceUpcast: a.forceUpcast ?? null,
      sha256: await sha256File(vae.weightsFile),
    };
    if (vae.onnx) {
      // an ONNX export: what its graph says (format, part, input name, traced ops) besides the common fields
      const o = { ...info, format: 'onnx', part: vae.onnx.part, input: vae.onnx.inputName, tracedOps: vae.onnx.graph.traced.length };
      if (flags.json) this.printJsonText(toJson(o));
      else {
        const rows: [string, string][] = [
          ['weights', info.weightsFile],
          ['format', `ONNX ${vae.onnx.part} (opset ${vae.onnx.graph.opset}), input ${vae.onnx.inputName}`],
          ['parameters', info.parameters.toLocaleString('en-US')],
          ['latent channels', String(a.latentChannels)],
          ['traced ops', `${o.tracedOps} (named by the graph's node names)`],
          ['family', latentSpaceLine(a)],
          ['sha256', info.sha256],
        ];
        for (const [k, v] of rows) this.log(`${k.padEnd(17)} ${v}`);
      }
      return;
    }
    if (flags.json) {
      this.printJsonText(toJson(info));
      return;
    }
    const rows: [string, string][] = [
      ['weights', info.weightsFile],
      ['config', info.configFile ?? '(none: architecture inferred from shapes)'],
      ['naming', `${info.naming}${info.prefix ? ` (prefix ${info.prefix})` : ''}`],
      ['storage dtype', info.storageDtype],
      ['parameters', info.parameters.toLocaleString('en-US')],
      ['parts', info.parts.join(', ')],
      ['widths', `[${a.blockOutChannels.join(', ')}]`],
      ['layers per block', String(a.layersPerBlock)],
      ['groupnorm groups', String(a.groups)],
      ['latent channels', String(a.latentChannels)],
      ['mid attention', a.midAttention ? 'yes' : 'no'],
      ['family', latentSpaceLine(a)],
      ['force_upcast', info.forceUpcast === null ? '(not stated)' : String(info.forceUpcast)],
      ['sha256', info.sha256],
    ];
    for (const [k, v] of rows) this.log(`${k.padEnd(17)} ${v}`);
  }
}

