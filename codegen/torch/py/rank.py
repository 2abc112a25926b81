"""LoRA rank selection as `peftc train` does it (peftc's runtime/rank-controller.ts, step for step).

DyLoRA (`rank = dynamic(max = R, min = r)`): each training step draws b uniformly from r … R (one
draw per step for every module, from the smallest min to the largest max, clamped to a module's
own) from the seed and the step with the same PCG hash as peftc, so both trainers (and a resumed
run) draw the same ranks; a module's mask is alpha/b on its first b entries, 0 after. Evaluation
uses the full rank. (`update = sampled` is refused when the target is built.)

AdaLoRA (`rank = auto(…)`): after the optimizer update of step t (1 … T), the importance of every
entry of A, E and B (|p · ∂L/∂p|, unclipped gradients, smoothed with its uncertainty; not at
t = T − tfinal unless form is 'paper'), the triplet scores, and the budget schedule: every delta_t
steps between tinit and T − tfinal (and once at T − tfinal) all triplets are ranked and those
outside the budget masked, their singular value E_i set to zero (PEFT's mask_to_budget). A masked
triplet keeps training and may come back; from T − tfinal on the pattern is fixed and E_i zeroed
after every update (PEFT's mask_using_rank_pattern). The mask input stays all ones.
"""
import json
import math
import re

import torch

U32 = 0xFFFFFFFF


def pcg(v):
    """The PCG hash of a u32 (peftc's runtime/cpu/rng.ts)."""
    state = ((v & U32) * 747796405 + 2891336453) & U32
    word = (((state >> ((state >> 28) + 4)) ^ state) * 277803737) & U32
    return ((word >> 22) ^ word) & U32


def dynamic_rank(seed, step, max_rank, min_rank=1):
    """DyLoRA's rank of 0-based training `step`: min_rank … max_rank, from the seed."""
    return min_rank + pcg((pcg(seed & U32) + pcg(step & U32)) & U32) % (max_rank - min_rank + 1)


def dynamic_mask(r, b, alpha):
    """alpha/b on the first b of r entries, 0 after."""
    return torch.tensor([alpha / b if i < b else 0.0 for i in range(r)], dtype=torch.float64)


class Importance:
    """Moving averages of one tensor's sensitivity |p·g| and of its uncertainty |I − Ī|."""

    def __init__(self, size):
        self.ipt = torch.zeros(size, dtype=torch.float64)
        self.unc = torch.zeros(size, dtype=torch.float64)

    def update(self, p, g, beta1, beta2):
        sens = (p.detach().double().cpu().reshape(-1) * g.double().cpu().reshape(-1)).abs()
        self.ipt = beta1 * self.ipt + (1 - beta1) * sens
        # The uncertainty takes the new average, as PEFT's RankAllocator.
        self.unc = beta2 * self.unc + (1 - beta2) * (sens - self.ipt).abs()

    def score(self):
        return self.ipt * self.unc


class RankSelection:
    """The masks of every ranked module for a run of `total` steps, and AdaLoRA's scores."""

    def __init__(self, config, model, total, seed):
        self.modules = config['modules']
        self.model = model
        self.seed = seed
        self.params = dict(model.named_parameters())
        self.auto = [m for m in self.modules if m['mode'] == 'auto']
        self.masks = {m['module']: torch.ones(m['rank'], dtype=torch.float64) for m in self.auto}
        self.scores = {m['module']: {k: Importance(self.params[m[k]].numel()) for k in 'AEB'} for m in self.auto}
        self.beta1, self.beta2 = config['beta1'], config['beta2']
        self.form = config.get('form', 'peft')
        if self.auto:
            self.b0 = sum(m['rank'] for m in self.auto)
            self.bT = sum(m['target'] for m in self.auto)
            self.total, self.tinit, self.tfinal, self.delta_t = total, config['tinit'], config['tfinal'], config['delta_t']
            if total - self.tinit - self.tfinal < 1:
                raise ValueError(f'rank = auto(…) needs a budgeting phase: the run has {total} steps, tinit is {self.tinit} and '
                                 f'tfinal {self.tfinal}; give more --steps or a smaller tinit/tfinal')

    # ---------------------------------------------------------------- masks fed to the model

    def train_masks(self, step):
        """The masks of 0-based training `step`: DyLoRA's draw, AdaLoRA's kept triplets."""
        dyn = [m for m in self.modules if m['mode'] == 'dynamic']
        b = dynamic_rank(self.seed, step, max(m['rank'] for m in dyn), min(m.get('min', 1) for m in dyn)) if dyn else 0
        self._set(lambda m: dynamic_mask(m['rank'], max(m.get('min', 1), min(b, m['rank'])), m['alpha']))

    def eval_masks(self):
        """Evaluation: DyLoRA at its full rank, AdaLoRA's mask all ones (E carries its masking)."""
        self._set(lambda m: dynamic_mask(m['rank'], m['rank'], m['alpha']))

    def _set(self, dynamic):
        self.model.rank_masks = {m['input']: dynamic(m) if m['mode'] == 'dynamic' else torch.ones(m['rank'], dtype=torch.float64) for m in self.modules}

    # ---------------------------------------------------------------- AdaLoRA's allocation

    def gradients(self):
        """This step's gradients of A, E and B before clipping (what the importance takes)."""
        out = {}
        for m in self.auto:
            for k in 'AEB':
                p = self.params[m[k]]
                out[m[k]] = (p.grad if p.grad is not None else torch.zeros_like(p)).detach().clone()
        return out

    def budget_at(self, t):
        """(budget, mask now, update the scores) after update t."""
        end = self.total - self.tfinal
        if t <= self.tinit:
            return self.b0, False, True
        if t > end:
            return self.bT, False, False
        if t == end:
            return self.bT, True, self.form == 'paper'  # PEFT scores no further at the final masking
        f = 1 - (t - self.tinit) / (end - self.tinit)
        # The small epsilon keeps a budget that is whole in exact arithmetic from rounding down.
        return math.floor(self.bT + (self.b0 - self.bT) * f * f * f + 1e-9), t % self.delta_t == 0, True

    def after_step(self, t, grads, opt):
        """After update t (1-based), with the updated parameters and this step's gradients."""
        if not self.auto:
            return
        budget, mask, update = self.budget_at(t)
        if update:
            for m in self.auto:
                for k in 'AEB':
                    self.scores[m['module']][k].update(self.params[m[k]], grads[m[k]], self.beta1, self.beta2)
        if mask:
            self.mask_to_budget(budget)
        if mask or t > self.total - self.tfinal:
            self.zero_masked()

    def triplet_scores(self, m):
        """s(E_i) + mean_j s(A_ij) + mean_j s(B_ji); A is [r, in], B [out, r]."""
        s, r = self.scores[m['module']], m['rank']
        return s['E'].score() + s['A'].score().reshape(r, -1).mean(1) + s['B'].score().reshape(-1, r).mean(0)

    def mask_to_budget(self, budget):
        """Ranks every triplet, masked or not, and keeps the `budget` best (ties: earlier module, then index)."""
        every = []
        for k, m in enumerate(self.auto):
            scores = self.triplet_scores(m).tolist()
            every += [(scores[i], k, i) for i in range(m['rank'])]
        drop = max(0, len(every) - budget)
        for n, (_, k, i) in enumerate(sorted(every)):
            self.masks[self.auto[k]['module']][i] = 0 if n < drop else 1

    def zero_masked(self):
        """E_i = 0 for every masked triplet (PEFT's masked_fill_; the optimizer moments are left)."""
        with torch.no_grad():
            for m in self.auto:
                off = (self.masks[m['module']] == 0).to(self.params[m['E']].device)
                self.params[m['E']][off] = 0

    def ranks(self):
        """The current rank of every AdaLoRA module (its active triplets)."""
        return {m['module']: int(self.masks[m['module']].sum()) for m in self.auto}

    def kept(self, module):
        """The ranks the saved adapter keeps: AdaLoRA's active triplets, DyLoRA's full rank."""
        if module in self.masks:
            return [i for i, on in enumerate(self.masks[module].tolist()) if on]
        return list(range(next(m['rank'] for m in self.modules if m['module'] == module)))

    # ---------------------------------------------------------------- checkpoints

    def state(self):
        return {'masks': self.masks, 'ipt': {p: {k: i.ipt for k, i in s.items()} for p, s in self.scores.items()},
                'unc': {p: {k: i.unc for k, i in s.items()} for p, s in self.scores.items()}}

    def restore(self, state):
        for module, mask in state['masks'].items():
            self.masks[module] = mask.clone()
            for k, imp in self.scores[module].items():
                imp.ipt, imp.unc = state['ipt'][module][k].clone(), state['unc'][module][k].clone()


# ---------------------------------------------------------------- the adapter's config

def most_common(values):
    """The most common value (the first one on a tie), as peftc's export picks r and alpha."""
    best = values[0]
    for v in values:
        if values.count(v) > values.count(best):
            best = v
    return best


def whole(x):
    return int(x) if isinstance(x, float) and x.is_integer() else x


def adapter_config(text, lora, kept, total):
    """adapter_config.json of a LoRA part for the ranks the run kept (`kept`: module → indices)."""
    config = json.loads(text)
    if config.get('peft_type') == 'ADALORA':
        return adalora_config(config, lora, kept, total)
    return lora_config(text, lora, kept)


def adalora_config(config, lora, kept, total):
    """PEFT's AdaLoRA: rank_pattern maps each `<module>.lora_E` to one boolean per initial triplet
    (true where kept), total_step is the run's steps (at least one budgeting step, as PEFT asks)."""
    for m in lora['modules']:
        on = set(kept[m['module']])
        config['rank_pattern'][m['hf'] + '.lora_E'] = [i in on for i in range(m['rank'])]
    config['total_step'] = max(total or 0, config['tinit'] + config['tfinal'] + 1)
    return json.dumps(config, indent=2, sort_keys=True)


def lora_config(text, lora, kept):
    """adapter_config.json for the ranks kept (`kept`: module → kept indices), as peftc export writes it:
    selected ranks as plain LoRA of their kept rank, the scale kept through lora_alpha."""
    mods = []
    for m in lora['modules']:
        if m['mode'] != 'fixed':
            n = len(kept[m['module']])
            if n == 0:
                continue  # kept none of its rank: left out of the adapter
            scale = m['alpha'] / m['rank'] if m['mode'] == 'auto' else m['alpha'] / n
            m = dict(m, rank=n, alpha=scale * n, rslora=False)
        mods.append(m)
    config = json.loads(text)
    if not mods:
        return text
    r = most_common([m['rank'] for m in mods])
    rs = most_common([m['rslora'] for m in mods])

    def alpha_of(m):
        if m['rslora'] == rs:
            return m['alpha']
        scale = m['alpha'] / math.sqrt(m['rank']) if m['rslora'] else m['alpha'] / m['rank']
        return scale * math.sqrt(m['rank']) if rs else scale * m['rank']
    alpha = most_common([alpha_of(m) for m in mods])
    config['r'] = r
    config['lora_alpha'] = whole(alpha)
    config['rank_pattern'] = {m['module']: m['rank'] for m in mods if m['rank'] != r}
    config['alpha_pattern'] = {m['module']: whole(alpha_of(m)) for m in mods if alpha_of(m) != alpha}
    if len(mods) < len(lora['modules']):
        targets = [m['module'] for m in mods]
        config['target_modules'] = leaf_names(targets, lora['universe']) or exact_regex([m['hf'] for m in mods])
    return json.dumps(config, indent=2, sort_keys=True)


def leaf(path):
    return path.rsplit('.', 1)[-1]


def leaf_names(targets, universe):
    """The leaf names, when each picks exactly the targets among all modules; else None."""
    names = sorted({leaf(t) for t in targets})
    for n in names:
        hit = [u for u in universe if leaf(u) == n]
        if len(hit) != len([t for t in targets if leaf(t) == n]) or any(u not in targets for u in hit):
            return None
    return names


def exact_regex(names):
    """One regular expression that full-matches exactly these names (one layer index alternated)."""
    groups, order = {}, []
    for n in names:
        parts = n.split('.')
        idx = [i for i, p in enumerate(parts) if re.fullmatch(r'\d+', p)]
        key = '.'.join('\0' if i == idx[0] else p for i, p in enumerate(parts)) if len(idx) == 1 else '=' + n
        if key not in groups:
            order.append(key)
            groups[key] = []
        groups[key].append(parts[idx[0]] if len(idx) == 1 else n)
    esc = lambda s: re.sub(r'([\\^$.*+?()\[\]{}|])', r'\\\1', s)  # noqa: E731
    alts = []
    for key in order:
        vals = groups[key]
        if key.startswith('='):
            alts.append(esc(vals[0]))
            continue
        before, after = key.split('\0')
        alts.append(esc(before) + (vals[0] if len(vals) == 1 else f"({'|'.join(vals)})") + esc(after))
    return alts[0] if len(alts) == 1 else f"({'|'.join(alts)})"


def select_ranks(entry, t, kept, params):
    """A selected-rank factor in the file: the kept rows of A (times E in plain LoRA) or of PEFT's
    AdaLoRA E (times its `factor`), or the kept columns of B; products in float64, as peftc's."""
    sel = entry['select']
    index = torch.tensor(kept, dtype=torch.long)
    if sel['axis'] == 1:
        return t[:, index].contiguous()
    rows = t.double()[index].reshape(len(kept), entry['shape'][1]) * sel.get('factor', 1.0)
    if sel.get('scaleBy'):
        rows = rows * params[sel['scaleBy']].detach().double().cpu()[index].unsqueeze(1)
    return rows.float().contiguous()
