# Regenerates the numpy-written fixtures read by the tests:
#   /usr/bin/python3 gen.py   (numpy 1.24.2 wrote the committed files)
import numpy as np
from numpy.lib import format as fmt

a24 = np.arange(24).reshape(2, 3, 4)

np.save("f4.npy", (a24 / 8).astype("<f4"))
np.save("f8.npy", np.linspace(-1, 1, 5).astype("<f8"))
np.save("u1.npy", np.arange(256, dtype="u1").reshape(16, 16))
np.save("i8.npy", np.array([[-3, 0], [1 << 40, 7]], dtype="<i8"))
np.save("i4.npy", np.array([-1, 2, 3], dtype="<i4"))
np.save("b1.npy", np.array([True, False, True]))
np.save("f4_be.npy", (a24 / 8).astype(">f4"))
np.save("i8_be.npy", np.array([[-3, 0], [1 << 40, 7]], dtype=">i8"))
np.save("f4_fortran.npy", np.asfortranarray((a24 / 8).astype("<f4")))
np.save("scalar.npy", np.float64(3.5))
np.save("empty.npy", np.zeros((0, 3), dtype="<f4"))
for v in [(2, 0), (3, 0)]:
    with open("f4_v%d.npy" % v[0], "wb") as f:
        fmt.write_array(f, (a24 / 8).astype("<f4"), version=v)

x = (np.arange(2 * 1 * 2 * 3).reshape(2, 1, 2, 3) / 5).astype("<f4")
y = np.array([1, 0], dtype="<i8")
np.savez("stored.npz", x=x, y=y)
np.savez_compressed("deflated.npz", x=x, y=y)
