// torch.optim.SGD with momentum, dampening, Nesterov and weight decay, PyTorch's update.
import { N } from '../native.js';
import { Tensor } from '../tensor/tensor.js';
import { keep } from '../tensor/scope.js';
import { Optimizer, type ParamGroup } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
}

export class SGD extends Optimizer<SGDOptions> {
  constructor(params: ConstructorParameters<typeof Optimizer<SGDOptions>>[0], options: Partial<SGDOptions> & { lr: number }) {
    const o: SGDOptions = { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, ...options };
    if (!(o.lr >= 0)) throw new RangeError(`SGD: invalid learning rate ${o.lr}`);
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0))
      throw new RangeError('SGD: Nesterov momentum requires a momentum and zero dampening');
    super(params, o);
  }

  protected stepGroup(group: ParamGroup<SGDOptions>): void {
    const o = group.options;
    const states = group.params.map((p) => this.stateOf(p, () => ({ momentumBuffer: null })));
    const created = N.sgdStep(
      group.params.map((p) => p.handle),
      states.map((s) => (s.momentumBuffer instanceof Tensor ? s.momentumBuffer.handle : null)),
      o.lr,
      o.momentum,
      o.dampening,
      o.weightDecay,
      o.nesterov,
      o.maximize,
    );
    created.forEach((h, i) => {
      if (h !== null) states[i]!.momentumBuffer = keep(new Tensor(h));
    });
  }
}
