// Package attacks crafts adversarial examples on surrogate models.
//
// The separation follows Foolbox: a model (models.Classifier) computes
// logits and gradients; an attack (Attack) decides how to move the input;
// a threat model (Norm and Eps) bounds the move; the criterion — fool the
// model, or reach a target class — is the Goal. Use is one line, as in
// torchattacks:
//
//	adv, err := attacks.PGD(0.3, 0.01, 40).Craft(surrogates, x, y)
//
// Images are float32 N×C×H×W in [0,1]; every output stays in [0,1] and in
// the ε-ball around its input after every step. Randomness (random starts,
// input diversity, random targets) comes from Config.Seed: the same seed
// gives the same bytes.
//
// The gradient family — FGSM, I-FGSM/BIM, PGD, MI-FGSM, DI, TI, R-FGSM and
// their combinations — is one configurable iterative attack (Iterative);
// the named constructors set the published defaults. With several
// surrogates the loss is taken on their averaged logits (or, with
// FuseLoss, the losses are averaged).
package attacks
