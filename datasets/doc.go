// Package datasets loads the labelled image sets that advmatrix attacks and
// evaluates on, and draws seeded subsets from them.
//
// A [Dataset] holds N images of one shape C×H×W, their integer labels in
// 0..Classes-1 and the provenance of every file read. Images come out as
// float32 in [0,1] in CHW order ([Dataset.Image], [Dataset.Batch]); 8-bit
// sources are stored as bytes and divided by 255 on the way out, exactly as
// torchvision's ToTensor does.
//
// Sources:
//
//   - MNIST, embedded in the binary ([MNIST]);
//   - Fashion-MNIST from a folder of idx files ([FashionMNIST]);
//   - CIFAR-10 binary batches ([CIFAR10]);
//   - NumPy .npy and .npz arrays ([NumPy], [NPZ]);
//   - folders of PNG and JPEG images, one sub-folder per class ([Folder]);
//   - SynDigits, digits 0–9 rendered from the Go fonts, a second source for
//     the digits task ([SynDigits]);
//   - anything another package adds with [Register].
//
// [Open] turns a data spec such as "mnist:test" or "npy:x.npy,y.npy" into a
// Dataset. [Dataset.Sample] and [Dataset.Balance] draw subsets from a
// seed; the same seed always gives the same subset.
//
// Readers treat files as untrusted: headers are checked against the data
// actually present and malformed input is an error naming the file, never a
// panic. Only regular files are opened (a FIFO or a device is an error, not
// a hang), memory is allocated for data actually present, an .npz archive
// is decompressed only for x and y, and a class count inferred from the
// labels is at most [MaxClasses]; [Dataset.CheckClasses] checks data
// against a model's classes.
package datasets
