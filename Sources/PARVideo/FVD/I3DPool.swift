import Foundation

/// TF SAME max pool of a feature map over (t, h, w), padding counted as -inf
/// (so it never wins). Separable: one axis at a time; a max is exact, so the
/// order of the passes does not change the result.
func maxPool(_ x: FeatureMap, window: (Int, Int, Int), stride: (Int, Int, Int)) -> FeatureMap {
    var cur = x
    for axis in 0..<3 {
        let k = [window.0, window.1, window.2][axis], s = [stride.0, stride.1, stride.2][axis]
        if k == 1 && s == 1 { continue }
        cur = maxPoolAxis(cur, axis: axis, k: k, s: s)
    }
    return cur === x ? copyMap(x) : cur
}

private func copyMap(_ x: FeatureMap) -> FeatureMap {
    let y = FeatureMap(t: x.t, h: x.h, w: x.w, c: x.c)
    y.data.update(from: x.data, count: x.count)
    return y
}

private func maxPoolAxis(_ x: FeatureMap, axis: Int, k: Int, s: Int) -> FeatureMap {
    let dims = [x.t, x.h, x.w]
    let (before, out) = samePadding(dims[axis], k, s)
    var od = dims
    od[axis] = out
    let y = FeatureMap(t: od[0], h: od[1], w: od[2], c: x.c)
    let n = dims[axis]
    let outer = dims[..<axis].reduce(1, *)
    let inner = dims[(axis + 1)...].reduce(1, *) * x.c
    let src = x.data, dst = y.data
    Parallel.forEach(outer * out) { job in
        let a = job / out, o = job % out
        let lo = max(0, o * s - before), hi = min(n, o * s - before + k)
        let d = dst + (a * out + o) * inner
        d.update(from: src + (a * n + lo) * inner, count: inner)
        if hi - lo > 1 {
            for i in (lo + 1)..<hi {
                let r = src + (a * n + i) * inner
                for j in 0..<inner { d[j] = max(d[j], r[j]) }
            }
        }
    }
    return y
}
