// Package surrogates builds and loads surrogate sets: the models an
// attacker crafts adversarial examples on.
//
// A set is a folder of ONNX files with a set.json manifest that lists each
// file with its SHA-256, how the set was made (method, schedule, seed) and
// how an attack should use it (Mode):
//
//   - OnePerStep: one member per attack iteration, in an order shuffled
//     once from the attack's seed and then cycled (attacks.Config.OnePerStep).
//     This is how Bayesian sets are attacked: cSGLD posterior samples
//     (Gubri et al., UAI 2022) and LGV trajectories (Gubri et al., ECCV
//     2022). With S identical members it is I-FGSM on that one model.
//   - AllAtOnce: every member contributes to every step (the attack's
//     logit or loss fusion), as an ordinary ensemble.
//
// Two builders write sets:
//
//   - CSGLD trains one chain with a cyclical cosine learning rate
//     η_k = (η₀/2)(cos(π·(k mod Kc)/Kc)+1), adds Langevin noise in the last
//     NoiseEpochs epochs of every cycle, and saves a sample after each of
//     the last Saves epochs of every cycle: Cycles×Saves files. It follows
//     the reference code (transferable-bnn-adv-ex), including its noise
//     scale: per step the weights move by N(0, 2aη)/nb, nb being the number
//     of mini-batches per epoch, not the textbook 1/N.
//   - LGV starts from a trained model and runs SGD at a constant, high
//     learning rate (0.05, momentum 0.9, weight decay 1e-4), saving a copy
//     PerEpoch times per epoch: Epochs×PerEpoch files.
//
// Every random choice (shuffling, Dropout, Langevin noise) derives from the
// builder's Seed: the same model, data and seed give byte-identical files
// and manifest. Files are written atomically (temporary file, rename).
//
// LoadSet reads a set back — from its manifest or its folder — checking
// every file's hash, and Set.Apply configures an attack for its mode. The
// command line takes a set as `--surrogate-set DIR` (or a path to
// set.json) instead of `--surrogate FILE`:
//
//	advmatrix attack --surrogate-set csgld/ --victim v.onnx --attack ifgsm ...
//
// which loads the set with LoadSet, takes its classifiers as the
// surrogates (in Set.Files order) and calls Set.Apply on the attack's
// Config. A folder without set.json is a plain ensemble (AllAtOnce).
package surrogates
