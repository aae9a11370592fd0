package datasets

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Options carries what a data spec alone does not say.
type Options struct {
	// Shape is the image shape wanted, channels × height × width. Image
	// folders are converted and resized to it, a zero entry meaning the
	// images' own. For every other source a non-zero entry that differs
	// from the data is an error.
	Shape [3]int
	// Classes is the number of classes of NumPy labels; 0 means the
	// largest label plus one (at most MaxClasses). For every source, data
	// whose labels do not fit Classes classes is an error (see
	// Dataset.CheckClasses): set it to a model's class count to have the
	// data checked against the model.
	Classes int
}

var (
	regMu    sync.RWMutex
	registry = map[string]func(arg string, opt Options) (*Dataset, error){}
)

// reserved names schemes that another package is expected to register.
var reserved = map[string]string{
	"syndigits": "font-rendered digits",
}

func init() {
	Register("mnist", openMNIST)
	Register("fashion-mnist", openFashion)
	Register("cifar10", openCIFAR)
	Register("npy", openNumPy)
	Register("folder", openFolder)
}

// Register makes a data source available to [Open] under scheme: the spec
// "scheme" or "scheme:ARG" calls open with ARG (empty if there is none),
// and "scheme@ARG" calls it with "@ARG". Scheme names are lower-case
// letters, digits and '-'. Like database/sql.Register, it panics if open
// is nil, the name is invalid or the scheme is already registered, all of
// which are programming errors.
func Register(scheme string, open func(arg string, opt Options) (*Dataset, error)) {
	if open == nil {
		panic("datasets: Register of " + scheme + " with nil open")
	}
	if !validScheme(scheme) {
		panic(fmt.Sprintf("datasets: invalid scheme name %q", scheme))
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[scheme]; dup {
		panic("datasets: Register called twice for " + scheme)
	}
	registry[scheme] = open
}

// Schemes returns the registered schemes in sorted order.
func Schemes() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(registry))
	for s := range registry {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ParseSpec splits a data spec into its scheme and argument:
// "mnist:train" gives "mnist" and "train", "fashion-mnist@/data" gives
// "fashion-mnist" and "@/data", "mnist" gives "mnist" and "".
func ParseSpec(spec string) (scheme, arg string, err error) {
	i := 0
	for i < len(spec) && (spec[i] >= 'a' && spec[i] <= 'z' || spec[i] >= '0' && spec[i] <= '9' || spec[i] == '-') {
		i++
	}
	scheme, rest := spec[:i], spec[i:]
	switch {
	case spec == "":
		return "", "", errors.New("empty data spec")
	case scheme == "":
		return "", "", fmt.Errorf("data spec %q does not start with a scheme such as mnist: or npy:", spec)
	case rest == "":
		return scheme, "", nil
	case rest[0] == ':':
		if rest == ":" {
			return "", "", fmt.Errorf("data spec %q has nothing after ':'", spec)
		}
		return scheme, rest[1:], nil
	case rest[0] == '@':
		return scheme, rest, nil
	}
	return "", "", fmt.Errorf("data spec %q: unexpected %q after scheme %q (want %s:ARG)", spec, rest[:1], scheme, scheme)
}

// Open opens the dataset a data spec names:
//
//	mnist[:train|test]               embedded MNIST (default test)
//	fashion-mnist[:train|test][@DIR] Fashion-MNIST idx files (default test, FashionMNISTDir)
//	syndigits[:SPLIT[:N[:SEED]]]     font-rendered digits (SynDigits)
//	cifar10:FILE.bin[,FILE.bin…]     CIFAR-10 binary batches
//	npy:X.npy[,Y.npy]                NumPy images and optional labels
//	npy:FILE.npz                     NumPy archive holding x and optional y
//	folder:DIR                       one sub-folder of PNG/JPEG files per class
//
// File lists are separated by commas, so file names cannot contain them.
// Name is set to the spec unless the source sets a more precise one.
func Open(spec string, opt Options) (*Dataset, error) {
	scheme, arg, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	if opt.Classes < 0 || opt.Classes > MaxClasses {
		return nil, fmt.Errorf("data spec %q: %d classes requested; want 1 to %d, or 0 to infer them", spec, opt.Classes, MaxClasses)
	}
	regMu.RLock()
	open, ok := registry[scheme]
	regMu.RUnlock()
	if !ok {
		if what, ok := reserved[scheme]; ok {
			return nil, fmt.Errorf("data spec %q: %s (%s) is not available in this build: no package registered it", spec, scheme, what)
		}
		return nil, fmt.Errorf("data spec %q: unknown scheme %q (known: %s)", spec, scheme, strings.Join(Schemes(), ", "))
	}
	ds, err := open(arg, opt)
	if err != nil {
		return nil, err
	}
	if ds.Name == "" {
		ds.Name = spec
	}
	for i, want := range opt.Shape {
		if want != 0 && want != ds.Shape[i] {
			return nil, fmt.Errorf("data spec %q: images are %dx%dx%d, but %dx%dx%d was requested",
				spec, ds.Shape[0], ds.Shape[1], ds.Shape[2], opt.Shape[0], opt.Shape[1], opt.Shape[2])
		}
	}
	if opt.Classes > 0 {
		if err := ds.CheckClasses(opt.Classes); err != nil {
			return nil, err
		}
	}
	return ds, nil
}

// parseSplit parses "[train|test]" with a default of test.
func parseSplit(scheme, arg string) (string, error) {
	switch arg {
	case "", "test":
		return "test", nil
	case "train":
		return "train", nil
	}
	return "", fmt.Errorf("%s: unknown split %q (want train or test)", scheme, arg)
}

func openMNIST(arg string, _ Options) (*Dataset, error) {
	split, err := parseSplit("mnist", arg)
	if err != nil {
		return nil, err
	}
	return MNIST(split)
}

func openFashion(arg string, _ Options) (*Dataset, error) {
	split, dir, found := strings.Cut(arg, "@")
	if found && dir == "" {
		return nil, errors.New("fashion-mnist: empty folder after '@'")
	}
	split, err := parseSplit("fashion-mnist", split)
	if err != nil {
		return nil, err
	}
	return FashionMNIST(split, dir)
}

// splitFiles splits a comma-separated file list, rejecting empty names.
func splitFiles(scheme, arg string) ([]string, error) {
	if arg == "" {
		return nil, fmt.Errorf("%s: no file given (%s:FILE)", scheme, scheme)
	}
	files := strings.Split(arg, ",")
	for _, f := range files {
		if f == "" {
			return nil, fmt.Errorf("%s: empty file name in %q", scheme, arg)
		}
	}
	return files, nil
}

func openCIFAR(arg string, _ Options) (*Dataset, error) {
	files, err := splitFiles("cifar10", arg)
	if err != nil {
		return nil, err
	}
	return CIFAR10(files...)
}

func openNumPy(arg string, opt Options) (*Dataset, error) {
	files, err := splitFiles("npy", arg)
	if err != nil {
		return nil, err
	}
	switch {
	case len(files) == 1 && strings.EqualFold(filepath.Ext(files[0]), ".npz"):
		return NPZ(files[0], opt.Classes)
	case len(files) == 1:
		return NumPy(files[0], "", opt.Classes)
	case len(files) == 2:
		for _, f := range files {
			if strings.EqualFold(filepath.Ext(f), ".npz") {
				return nil, fmt.Errorf("npy: %s: an .npz file holds both x and y; give it alone", f)
			}
		}
		return NumPy(files[0], files[1], opt.Classes)
	}
	return nil, fmt.Errorf("npy: %d files given, want X.npy[,Y.npy] or FILE.npz", len(files))
}

func openFolder(arg string, opt Options) (*Dataset, error) {
	if arg == "" {
		return nil, errors.New("folder: no directory given (folder:DIR)")
	}
	return Folder(arg, opt.Shape)
}
