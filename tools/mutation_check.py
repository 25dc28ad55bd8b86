"""Issue 18's eight one-line bugs, each made in a scratch copy of HEAD: does a test fail?

    .venv/bin/python tools/mutation_check.py        # from the repository root, ~3 min

Each mutation is applied to a fresh ``git archive HEAD`` in a temporary folder and the
named tests run there (PYTHONPATH points at the copy); every one must fail a test.
"""
import os
import pathlib
import subprocess
import sys
import tempfile

MUTATIONS = [
    ("SR1 update scaled by 0.5", "src/neuralab/optimizers/quasi_newton.py",
     "H.addr_(v, v, alpha=1.0 / vy)", "H.addr_(v, v, alpha=0.5 / vy)", "tests/optimizers"),
    ("CG PR+/HS clamp removed", "src/neuralab/optimizers/conjugate_gradient.py",
     "return max(beta, 0.0) if update in _CLAMPED else beta", "return beta", "tests/optimizers"),
    ("HessianDiagonal floor on |H_ii|", "src/neuralab/optimizers/newton.py",
     'd = -g0 / diag.clamp_min(group["min_eigval"])', 'd = -g0 / diag.abs().clamp_min(group["min_eigval"])',
     "tests/optimizers"),
    ("RBM negative term normalised by the batch", "src/neuralab/classic/rbm.py",
     "Wa.addmm_(nh.T, nv, alpha=-lr / m)", "Wa.addmm_(nh.T, nv, alpha=-lr / k)", "tests/classic/test_rbm.py tests/classic/test_rbm_uneven_batches.py"),
    ("GNG new node at w_q", "src/neuralab/classic/gng.py",
     "W[r] = 0.5 * (W[q] + W[f])", "W[r] = W[q]", "tests/classic/test_gng.py tests/classic/test_gng_insertion.py"),
    ("GNG new node error 0", "src/neuralab/classic/gng.py",
     "err[r] = err[q]", "err[r] = 0.0", "tests/classic/test_gng.py tests/classic/test_gng_insertion.py"),
    ("DropBlock gamma without edge correction", "src/neuralab/layers/stochastic.py",
     "gamma = self.p / bs**n * total / valid", "gamma = self.p / bs**n", "tests/layers tests/contracts"),
    ("in-place planner aliasing guard removed", "src/neuralab/graph.py",
     "return (consumers.get(slot) == 1 and slot not in out_idx", "return (slot not in out_idx",
     "tests/test_graph.py tests/test_graph_inplace.py"),
]

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
py = str(root / ".venv/bin/python")
results = []
for name, path, old, new, tests in MUTATIONS:
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(f"git -C {root} archive HEAD | tar -x -C {d}", shell=True, check=True)
        f = pathlib.Path(d) / path
        text = f.read_text()
        if text.count(old) != 1:
            results.append((name, f"NOT APPLIED ({text.count(old)} matches)"))
            print(results[-1], flush=True)
            continue
        f.write_text(text.replace(old, new))
        env = dict(os.environ, PYTHONPATH=f"{d}/src")
        r = subprocess.run([py, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests.split()],
                           cwd=d, env=env, capture_output=True, text=True)
        last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr[-200:]
        results.append((name, "caught" if r.returncode == 1 else f"NOT CAUGHT (rc {r.returncode})", last))
        print(results[-1], flush=True)
print(sum(r[1] == "caught" for r in results), "of", len(results), "caught")
