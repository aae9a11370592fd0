// Package attacks crafts adversarial examples on surrogate models.
//
// The separation follows Foolbox: a model (models.Classifier) computes
// logits and gradients; an attack (Attack) decides how to move the input;
// a threat model (Norm and Eps) bounds the move; the criterion — fool the
// model, or reach a target class — is set per call by Batch.Targets. Use
// is one line, as in torchattacks:
//
//	adv, err := attacks.PGD(0.3, 0.01, 40).Craft(ctx, surrogates, attacks.Batch{X: x, Labels: y})
//
// Images are float32 N×C×H×W in [0,1]; every output stays in [0,1] and in
// the ε-ball around its input after every step. Randomness (random starts,
// input diversity, Square's proposals, noise) comes from Batch.Seed: the
// same Batch gives the same bytes. CraftInBatches crafts many images in
// batches with seeds derived by BatchSeed; targets are chosen beforehand
// (RandomTargets, LeastLikelyTargets), so that results record them.
//
// The gradient family — FGSM, I-FGSM/BIM, PGD, MI-FGSM, DI, TI, R-FGSM and
// their combinations — is one configurable iterative attack (Config); the
// named constructors set the published defaults. With several surrogates
// the loss is taken on their averaged logits (or, with FuseLoss, the
// losses are averaged). AdaEA and CWA are the adaptive ensemble attacks;
// Square is query-only; Corruption holds DUMB's non-gradient attacks.
//
// Attacks are also registered by name (Lookup, Specs) with typed,
// range-checked settings (Spec.Check), per-shape defaults (Spec.Complete,
// which results record in full), what they need (CheckSurrogates) and the
// strength DUMB's selection tunes (Spec.Strength, SelectStrength).
package attacks
