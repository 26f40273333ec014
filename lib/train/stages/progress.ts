import type { TrainEngine } from '../../engines/types';
import type { TrainConfig } from '../config';
import type { ResumePoint } from './open';
import type { RunProgress } from './record';

/** Where the loop starts: at epoch 0, or where the checkpoint left off (its weights and optimizer state restored). */
export function startProgress(config: TrainConfig, engine: TrainEngine, resume: ResumePoint | undefined, outDir: string | undefined, log: (msg: string) => void): RunProgress {
  if (!resume) return { history: [], trainSeconds: 0, imagesTrained: 0, nextEpoch: 0 };
  engine.setState(resume.state);
  const m = resume.meta;
  const nextEpoch = m.epoch + 1;
  log(`resuming ${outDir} from its checkpoint after epoch ${m.epoch + 1} (${nextEpoch} of ${config.epochs} epochs done)`);
  return { history: m.history.slice(0, m.epoch + 1), trainSeconds: m.trainSeconds, imagesTrained: m.imagesTrained, nextEpoch };
}
