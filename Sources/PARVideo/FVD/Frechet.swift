import COpenBLAS
import Foundation

/// The Frechet distance between Gaussians fitted to two feature sets, in
/// double: |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr(sqrt(S1 S2)).
/// tr(sqrt(S1 S2)) is computed as tr(sqrt(A S2 A)) with A = S1^(1/2): both
/// square roots are of symmetric positive semi-definite matrices, so a
/// symmetric eigendecomposition (LAPACK dsyevd) gives them with real
/// arithmetic, where tools/fvd (scipy sqrtm of the non-symmetric product)
/// goes through a complex Schur form. The two agree to rounding.
public enum Frechet {
    public struct Stats: Sendable {
        public let dim: Int, count: Int
        public let mean: [Double]
        /// dim x dim, row-major, unbiased (N - 1).
        public let covariance: [Double]
    }

    public struct Result: Sendable {
        public let distance: Double
        /// The parts: |mu1 - mu2|^2 and tr(S1) + tr(S2) - 2 tr(sqrt(S1 S2)).
        public let meanTerm: Double, covarianceTerm: Double
        /// Most negative eigenvalue of A S2 A over its largest (rounding; clamped to 0).
        public let negativeEigenvalueRatio: Double
    }

    /// Mean and covariance of `count` rows of `dim` features.
    public static func stats(_ f: [Float], count n: Int, dim d: Int) throws -> Stats {
        guard n >= 2 else { throw FVDInputError("need at least 2 feature vectors, got \(n)") }
        precondition(f.count == n * d)
        guard f.allSatisfy({ $0.isFinite }) else { throw FVDInputError("features contain NaN or Inf") }
        var mean = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { mean[j] += Double(f[i * d + j]) } }
        for j in 0..<d { mean[j] /= Double(n) }
        // Centred, transposed ([d][n]) so each covariance entry is one contiguous dot product.
        var xt = [Double](repeating: 0, count: d * n)
        for i in 0..<n { for j in 0..<d { xt[j * n + i] = Double(f[i * d + j]) - mean[j] } }
        var cov = [Double](repeating: 0, count: d * d)
        xt.withUnsafeBufferPointer { x in
            for a in 0..<d {
                for b in a..<d {
                    var s = 0.0
                    let pa = x.baseAddress! + a * n, pb = x.baseAddress! + b * n
                    for i in 0..<n { s += pa[i] * pb[i] }
                    cov[a * d + b] = s / Double(n - 1)
                    cov[b * d + a] = cov[a * d + b]
                }
            }
        }
        return Stats(dim: d, count: n, mean: mean, covariance: cov)
    }

    public static func distance(_ s1: Stats, _ s2: Stats) throws -> Result {
        guard s1.dim == s2.dim else { throw FVDInputError("feature sizes differ: \(s1.dim) and \(s2.dim)") }
        let d = s1.dim
        var meanTerm = 0.0
        for j in 0..<d { meanTerm += (s1.mean[j] - s2.mean[j]) * (s1.mean[j] - s2.mean[j]) }
        var trace = 0.0
        for j in 0..<d { trace += s1.covariance[j * d + j] + s2.covariance[j * d + j] }
        // A = V diag(sqrt(l)) V^T.
        let (l1, v1) = try symmetricEigen(s1.covariance, d)
        var scaled = v1  // V diag(sqrt l), columns scaled
        for r in 0..<d { for c in 0..<d { scaled[r * d + c] *= max(l1[c], 0).squareRoot() } }
        let a = multiply(scaled, transposed(v1, d), d)
        let m = multiply(multiply(a, s2.covariance, d), a, d)
        var sym = m  // exact symmetry for the eigensolver
        for r in 0..<d { for c in 0..<r { let v = 0.5 * (m[r * d + c] + m[c * d + r]); sym[r * d + c] = v; sym[c * d + r] = v } }
        let (l2, _) = try symmetricEigen(sym, d, vectors: false)
        let top = l2.max() ?? 0
        let root = l2.reduce(0) { $0 + max($1, 0).squareRoot() }
        let covTerm = trace - 2 * root
        return Result(distance: meanTerm + covTerm, meanTerm: meanTerm, covarianceTerm: covTerm,
                      negativeEigenvalueRatio: top > 0 ? max(0, -(l2.min() ?? 0)) / top : 0)
    }

    static func transposed(_ m: [Double], _ d: Int) -> [Double] {
        var t = m
        for r in 0..<d { for c in 0..<d { t[c * d + r] = m[r * d + c] } }
        return t
    }

    /// d x d row-major product; OpenBLAS runs single-threaded here (Parallel's
    /// setup), so the sums have one fixed order.
    static func multiply(_ a: [Double], _ b: [Double], _ d: Int) -> [Double] {
        _ = Parallel.blasSetup
        var c = [Double](repeating: 0, count: d * d)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(d), Int32(d), Int32(d), 1, a, Int32(d), b, Int32(d), 0, &c, Int32(d))
        return c
    }

    /// Eigenvalues (ascending) and, with `vectors`, the eigenvectors as the
    /// columns of a row-major matrix, of a symmetric d x d matrix.
    static func symmetricEigen(_ m: [Double], _ d: Int, vectors: Bool = true) throws -> ([Double], [Double]) {
        _ = Parallel.blasSetup
        var a = m  // symmetric: row-major and column-major are the same matrix
        var w = [Double](repeating: 0, count: d)
        var n = Int32(d), lda = Int32(d), info: Int32 = 0
        var jobz: CChar = vectors ? 86 : 78, uplo: CChar = 85  // "V" / "N", "U"
        var lwork: Int32 = -1, liwork: Int32 = -1
        var wq = 0.0, iq: Int32 = 0
        dsyevd_(&jobz, &uplo, &n, &a, &lda, &w, &wq, &lwork, &iq, &liwork, &info, 1, 1)
        guard info == 0 else { throw FVDInputError("eigensolver workspace query failed (info \(info))") }
        lwork = Int32(wq); liwork = iq
        var work = [Double](repeating: 0, count: max(1, Int(lwork)))
        var iwork = [Int32](repeating: 0, count: max(1, Int(liwork)))
        dsyevd_(&jobz, &uplo, &n, &a, &lda, &w, &work, &lwork, &iwork, &liwork, &info, 1, 1)
        guard info == 0 else { throw FVDInputError("the covariance eigendecomposition did not converge (info \(info))") }
        guard w.allSatisfy({ $0.isFinite }) else { throw FVDInputError("covariance eigenvalues are not finite") }
        // LAPACK returns column-major eigenvectors: transpose to row-major columns.
        return (w, vectors ? transposed(a, d) : [])
    }

    /// Nearest-centroid action classifier: each class's mean reference feature;
    /// each clip gets the class of the nearest mean (Euclidean). Clips of a
    /// class the reference lacks are left out (and reported by the caller).
    public static func nearestCentroidAccuracy(reference ref: [Float], labels refLabels: [String],
                                               features x: [Float], labels xLabels: [String], dim d: Int)
        -> (accuracy: Double, perClass: [(label: String, count: Int, accuracy: Double)]) {
        let classes = FVDSelection.classOrder(refLabels)
        let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        var centroids = [Double](repeating: 0, count: classes.count * d), counts = [Int](repeating: 0, count: classes.count)
        for (i, l) in refLabels.enumerated() {
            let c = index[l]!
            counts[c] += 1
            for j in 0..<d { centroids[c * d + j] += Double(ref[i * d + j]) }
        }
        for c in classes.indices { for j in 0..<d { centroids[c * d + j] /= Double(counts[c]) } }
        var right: [String: Int] = [:], seen: [String: Int] = [:]
        for (i, l) in xLabels.enumerated() where index[l] != nil {
            var best = 0, bestD = Double.infinity
            for c in classes.indices {
                var s = 0.0
                for j in 0..<d { let v = Double(x[i * d + j]) - centroids[c * d + j]; s += v * v }
                if s < bestD { bestD = s; best = c }
            }
            seen[l, default: 0] += 1
            if classes[best] == l { right[l, default: 0] += 1 }
        }
        let total = seen.values.reduce(0, +), correct = right.values.reduce(0, +)
        let perClass = classOrder(seen.keys).map { ($0, seen[$0]!, Double(right[$0] ?? 0) / Double(seen[$0]!)) }
        return (total > 0 ? Double(correct) / Double(total) : 0, perClass)
    }

    private static func classOrder(_ l: some Collection<String>) -> [String] { FVDSelection.classOrder(l) }
}
