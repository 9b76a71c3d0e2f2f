// rlhf score: a reward model's score of each line of a file (a demonstration, or a ranking),
// and its accuracy over the rankings' pairs.
import { readExamples, type SkippedLine } from '../data/datasets.js';
import { hasEmptyAnswer, parsePreferenceExample, parseSFTExample, type PreferenceExample, type SFTExample } from '../data/formats.js';
import { RewardModel } from '../models/reward-model.js';
import { parseDevice } from '../tensor/types.js';
import { promptCompletionIds, rewardScores } from '../text/score.js';
import { rankingPairs } from '../trainers/ranking-accuracy.js';
import { promptAndAnswer } from '../trainers/tokenize.js';
import { pickDevice } from '../trainers/trainer.js';
import { reportSkipped, requireFile, str, type Opts } from './inputs.js';
import { tokenizerOf } from './lora.js';

/** A line of `score --data`: a ranking ({chosen, rejected} or {completions}) or a demonstration. */
type ScoreLine = { ranking: PreferenceExample } | { demonstration: SFTExample };
function parseScoreLine(v: unknown): ScoreLine {
  const ranked = typeof v === 'object' && v !== null && ('chosen' in v || 'completions' in v);
  return ranked ? { ranking: parsePreferenceExample(v) } : { demonstration: parseSFTExample(v) };
}

export async function score(o: Opts): Promise<void> {
  const dir = requireFile(str(o, 'rewardModel'), '--reward-model');
  const file = requireFile(str(o, 'data'), '--data');
  const device = pickDevice(parseDevice(o.device ?? 'auto', '--device', true));
  const model = await RewardModel.load(dir, { device, baseModel: o.baseModel as string | undefined });
  model.eval();
  const tok = await tokenizerOf(dir, model);
  const seqOf = (prompt: string, answer: string, templated = false): number[] =>
    promptCompletionIds(tok, prompt, answer, model.config.blockSize, templated);
  const scores = (seqs: number[][]): number[] => rewardScores(model, seqs, tok.padTokenId);
  let pairs = 0,
    correct = 0,
    n = 0,
    empty = 0;
  const skipped: SkippedLine[] = [];
  for await (const { line, example } of readExamples(file, parseScoreLine, { skipInvalid: !!o.skipInvalid }, skipped)) {
    try {
      if ('ranking' in example) {
        const ex = example.ranking;
        const s = scores(ex.completions.map((c) => seqOf(ex.prompt, c)));
        const ranked = rankingPairs(s);
        pairs += ranked.pairs;
        correct += ranked.correct;
        console.log(JSON.stringify({ line, prompt: ex.prompt, scores: s }));
      } else {
        const { prompt, answer, templated } = promptAndAnswer(example.demonstration, tok);
        console.log(JSON.stringify({ line, prompt, score: scores([seqOf(prompt, answer, templated)])[0] }));
      }
      if ('ranking' in example ? hasEmptyAnswer(example.ranking) : hasEmptyAnswer(example.demonstration)) empty++;
      n++;
    } catch (err) {
      throw new Error(`${file}:${line}: ${(err as Error).message}`);
    }
  }
  reportSkipped(skipped, file);
  const empties = empty ? `, ${empty} with an empty answer` : '';
  console.error(
    pairs > 0
      ? `rlhf score: ${n} lines${empties}, accuracy ${((correct / pairs) * 100).toFixed(1)} % over ${pairs} pairs`
      : `rlhf score: ${n} lines scored${empties}`,
  );
  model.dispose();
}
