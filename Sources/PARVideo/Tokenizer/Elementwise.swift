/// Vector exp for the Swish sigmoid: 2^n * p(r) with |r| <= ln2/2 and a degree-6
/// polynomial (relative error about 2e-7, enough for 1e-4 agreement).
@inline(__always)
func fastExp(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let x = x.clamped(lowerBound: SIMD16(repeating: -87.0), upperBound: SIMD16(repeating: 88.0))
    let n = (x * 1.44269504088896341).rounded(.toNearestOrEven)
    var r = x - n * 0.693359375
    r = r - n * -2.12194440e-4
    var p = SIMD16<Float>(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    p = p * (r * r) + r + 1
    let bits = (SIMD16<Int32>(n) &+ 127) &<< 23
    return p * unsafeBitCast(bits, to: SIMD16<Float>.self)
}

/// y = x * sigmoid(beta * x) on one SIMD vector.
@inline(__always)
func swish(_ y: SIMD16<Float>, _ beta: SIMD16<Float>) -> SIMD16<Float> {
    y / (1 + fastExp(-(beta * y)))
}
