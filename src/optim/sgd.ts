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
    const created = N.sgdStep({
      params: group.params.map((p, i) => {
        const buf = states[i]!.momentumBuffer;
        return { param: p.handle, momentumBuffer: buf instanceof Tensor ? buf.handle : null };
      }),
      lr: o.lr,
      momentum: o.momentum,
      dampening: o.dampening,
      weightDecay: o.weightDecay,
      nesterov: o.nesterov,
      maximize: o.maximize,
    });
    created.forEach((h, i) => {
      if (h !== null) states[i]!.momentumBuffer = keep(new Tensor(h));
    });
  }
}
