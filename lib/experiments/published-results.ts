/**
 * Published test accuracies (%), docs/method.md section 9: the paper's table with the CDEP/RRR baselines.
 * Shown next to our numbers; never used to choose anything.
 */
export interface PublishedResult {
  method: string;
  colormnist: string;
  decoymnist: string;
  annotation: string;
  source: string;
}

export const PUBLISHED_RESULTS: readonly PublishedResult[] = [
  { method: 'Vanilla (no penalty)', colormnist: '0.2 ± 0.2', decoymnist: '60.1 ± 5.1', annotation: 'no', source: 'CDEP (Rieger et al. 2020)' },
  { method: 'RRR (input-gradient penalty)', colormnist: '0.0 ± 0.0', decoymnist: '99.0 ± 1.0', annotation: 'yes', source: 'CDEP (Rieger et al. 2020)' },
  { method: 'Expected Gradients penalty', colormnist: '10.0 ± 0.0', decoymnist: '97.8 ± 0.2', annotation: 'yes', source: 'CDEP (Rieger et al. 2020)' },
  { method: 'CDEP', colormnist: '31.0 ± 2.3', decoymnist: '97.2 ± 0.8', annotation: 'yes', source: 'CDEP (Rieger et al. 2020)' },
  { method: 'Learning to Look (paper)', colormnist: '64.88', decoymnist: '96.19', annotation: 'no (prompt)', source: 'Yang et al. 2025' },
];
