// LoRA's regulariser plug-in (plugins.ts): what rank selection does to the gradients after the
// backward pass: AdaLoRA's orthogonality term (orthogonality.ts), then DyLoRA's sampled-rank
// update (sampled-rank.ts). Each leaves a graph without such modules as it is.
import type { Regulariser } from '../autodiff/backward.ts';
import { orthogonalityGradients } from './orthogonality.ts';
import { sampledRankGradients } from './sampled-rank.ts';

export const rankGradients: Regulariser = (t) => sampledRankGradients(orthogonalityGradients(t));
