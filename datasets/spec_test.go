package datasets

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		spec, scheme, arg, err string
	}{
		{"mnist", "mnist", "", ""},
		{"mnist:train", "mnist", "train", ""},
		{"fashion-mnist:test@/data/fm", "fashion-mnist", "test@/data/fm", ""},
		{"fashion-mnist@/data/fm", "fashion-mnist", "@/data/fm", ""},
		{"cifar10:a.bin,b.bin", "cifar10", "a.bin,b.bin", ""},
		{"npy:/tmp/x:y.npy", "npy", "/tmp/x:y.npy", ""},
		{"folder:C:/imgs", "folder", "C:/imgs", ""},
		{"syndigits:test", "syndigits", "test", ""},
		{"", "", "", "empty data spec"},
		{":train", "", "", "does not start with a scheme"},
		{"MNIST", "", "", "does not start with a scheme"},
		{"/data/x.npy", "", "", "does not start with a scheme"},
		{"mnist:", "", "", "nothing after ':'"},
		{"mnist train", "", "", `unexpected " " after scheme "mnist"`},
		{"Mnist", "", "", "does not start with a scheme"},
		{"mni_st", "", "", `unexpected "_"`},
		{"x.npy", "", "", `unexpected "." after scheme "x"`},
	}
	for _, tt := range tests {
		scheme, arg, err := ParseSpec(tt.spec)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSpec(%q) error %v, want %q", tt.spec, err, tt.err)
			}
			continue
		}
		if err != nil || scheme != tt.scheme || arg != tt.arg {
			t.Errorf("ParseSpec(%q) = %q, %q, %v; want %q, %q", tt.spec, scheme, arg, err, tt.scheme, tt.arg)
		}
	}
}

func TestOpen(t *testing.T) {
	tests := []struct {
		spec string
		opt  Options
		name string
		n    int
		err  string
	}{
		{"mnist", Options{}, "mnist:test", 10000, ""},
		{"mnist:test", Options{Shape: [3]int{1, 28, 28}}, "mnist:test", 10000, ""},
		{"mnist:test", Options{Shape: [3]int{0, 28, 0}}, "mnist:test", 10000, ""},
		{"mnist:test", Options{Shape: [3]int{3, 32, 32}}, "", 0, "images are 1x28x28, but 3x32x32 was requested"},
		{"mnist:valid", Options{}, "", 0, `mnist: unknown split "valid"`},
		{"mnist@/x", Options{}, "", 0, `unknown split "@/x"`},
		{"syndigits:test:20", Options{}, "syndigits:test:20", 20, ""},
		{"syndigits:valid", Options{}, "", 0, `syndigits: unknown split "valid"`},
		{"imagenet:val", Options{}, "", 0, `unknown scheme "imagenet" (known: cifar10, fashion-mnist, folder, mnist, npy`},
		{"folder", Options{}, "", 0, "no directory given"},
		{"npy:a.npy,,b.npy", Options{}, "", 0, "empty file name"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			ds, err := Open(tt.spec, tt.opt)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ds.Name != tt.name || ds.Len() != tt.n {
				t.Errorf("got %q with %d images", ds.Name, ds.Len())
			}
		})
	}
}

func TestRegister(t *testing.T) {
	var gotArg string
	var gotOpt Options
	Register("test-src", func(arg string, opt Options) (*Dataset, error) {
		gotArg, gotOpt = arg, opt
		if arg == "fail" {
			return nil, errors.New("test-src: failed")
		}
		return NewUint8([3]int{1, 1, 1}, []uint8{1, 2}, []int{0, 1}, 2)
	})
	opt := Options{Classes: 7}
	ds, err := Open("test-src:abc", opt)
	if err != nil {
		t.Fatal(err)
	}
	if gotArg != "abc" || !reflect.DeepEqual(gotOpt, opt) || ds.Name != "test-src:abc" || ds.Len() != 2 {
		t.Errorf("arg %q opt %+v name %q", gotArg, gotOpt, ds.Name)
	}
	if _, err := Open("test-src:fail", opt); err == nil || err.Error() != "test-src: failed" {
		t.Errorf("error %v", err)
	}
	if !strings.Contains(strings.Join(Schemes(), ","), "test-src") {
		t.Errorf("Schemes() = %v", Schemes())
	}
	for name, f := range map[string]func(){
		"duplicate": func() { Register("mnist", openMNIST) },
		"nil":       func() { Register("other", nil) },
		"bad name":  func() { Register("Bad:name", openMNIST) },
		"empty":     func() { Register("", openMNIST) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register %s: no panic", name)
				}
			}()
			f()
		}()
	}
}
