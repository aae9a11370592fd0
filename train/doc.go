// Package train fits advmatrix models: optimizers (SGD with momentum and
// Nesterov, Adam; weight decay), learning-rate schedules (constant, step,
// cosine, cyclical cosine), and a seeded training loop with light
// augmentation, a validation split and early stopping.
//
// A model is trained through models.Model.TrainGrads (BatchNorm on batch
// statistics, Dropout active) and updated with SetParams; BatchNorm's
// running statistics are buffers the optimizer never touches. Every
// random choice — shuffling, augmentation, Dropout masks, the validation
// split — derives from Config.Seed, so the same seed gives the same bytes.
package train
