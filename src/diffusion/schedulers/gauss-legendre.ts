// Gauss–Legendre quadrature: n nodes integrate every polynomial of degree ≤ 2n − 1 exactly, so
// the Lagrange polynomials of a linear multistep method (degree ≤ 3 for LMS order 4) need no
// adaptive integrator (diffusers calls scipy.integrate.quad for the same integrals).

/** Nodes and weights on [−1, 1] for 4 points (exact up to degree 7). */
const NODES = [-0.8611363115940526, -0.3399810435848563, 0.3399810435848563, 0.8611363115940526];
const WEIGHTS = [0.34785484513745385, 0.6521451548625461, 0.6521451548625461, 0.34785484513745385];

/** ∫ f from a to b (a > b gives the negated integral, as quad does). Exact for degree ≤ 7. */
export function integratePolynomial(f: (x: number) => number, a: number, b: number): number {
  const half = (b - a) / 2;
  const mid = (a + b) / 2;
  let sum = 0;
  for (let i = 0; i < NODES.length; i++) sum += WEIGHTS[i] * f(mid + half * NODES[i]);
  return half * sum;
}
