// Package metrics holds the numbers advmatrix reports and the arithmetic
// behind them: proportions with Wilson intervals (Rate), the three
// attack-success definitions the literature mixes up (ScoreVictim: asr_all,
// asr_on_correct, asr_ratio), classification accuracy and confusion
// (Classify), perturbation norms (PerturbationOf), SSIM as scikit-image
// computes it, and Argmax over logits.
//
// It depends on nothing else in advmatrix, so that attacks, the scenario
// runner and the report renderers share one copy of each computation.
package metrics
