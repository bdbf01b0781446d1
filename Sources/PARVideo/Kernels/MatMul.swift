import Foundation
import COpenBLAS

/// A weight matrix as stored by PyTorch's nn.Linear: `rows` outputs, each a
/// contiguous row of `cols` inputs, in F32, F16 or BF16. It views memory
/// owned by `owner` (a mapped file or a buffer) and never copies it.
public struct WeightMatrix: @unchecked Sendable {
    public let rows: Int, cols: Int
    public let dtype: DType
    public let data: UnsafeRawPointer
    let owner: AnyObject

    public init(rows: Int, cols: Int, dtype: DType, data: UnsafeRawPointer, owner: AnyObject) {
        precondition([.f32, .f16, .bf16].contains(dtype))
        self.rows = rows; self.cols = cols; self.dtype = dtype; self.data = data; self.owner = owner
    }

    public var bytes: Int { rows * cols * dtype.byteSize }

    /// Row `r` widened to fp32 into `out` (embedding lookup).
    public func copyRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        let raw = UnsafeRawBufferPointer(start: data + r * cols * dtype.byteSize, count: cols * dtype.byteSize)
        convertToFloat(raw, dtype: dtype, into: out, count: cols)
    }
}

/// Below this many rows, half-precision weights go through the widening
/// dot-product kernel (memory bound); from here on, tiles are widened to fp32
/// and handed to sgemm (compute bound).
let halfGemmMinRows = 8
/// Output rows widened per sgemm tile (a 1280-wide tile is 640 KB: stays in L2).
let halfTileRows = 128

/// Per-thread scratch for widened tiles.
final class TileScratch: @unchecked Sendable {
    static let shared = TileScratch()
    private var buffers: [FloatBuffer] = []
    private let lock = NSLock()
    func buffer(_ worker: Int, count: Int) -> UnsafeMutablePointer<Float> {
        lock.lock(); defer { lock.unlock() }
        while buffers.count <= worker { buffers.append(FloatBuffer(0)) }
        if buffers[worker].count < count { buffers[worker] = FloatBuffer(count) }
        return buffers[worker].ptr
    }
}

/// The number of fixed output chunks for `outputs` columns: enough to feed
/// two threads evenly, independent of the thread count.
@inline(__always)
func outputChunks(_ outputs: Int) -> (count: Int, size: Int) {
    let size = max(16, ((outputs + 7) / 8 + 15) / 16 * 16)
    return ((outputs + size - 1) / size, size)
}

/// y[r, j] = sum_k x[r, k] * W[j, k] for r < rows: y = x W^T, fp32 result.
/// `x` is rows x W.cols, `y` is rows x W.rows (row stride W.rows).
public func matmul(_ x: UnsafePointer<Float>, rows: Int, _ w: WeightMatrix, _ y: UnsafeMutablePointer<Float>) {
    let (chunks, size) = outputChunks(w.rows)
    let k = w.cols
    Parallel.forEach(chunks) { c, worker in
        let j0 = c * size
        let cols = min(size, w.rows - j0)
        switch w.dtype {
        case .f32:
            let wp = w.data.assumingMemoryBound(to: Float.self) + j0 * k
            if rows == 1 {
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(cols), Int32(k), 1, wp, Int32(k), x, 1, 0, y + j0, 1)
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(cols), Int32(k),
                            1, x, Int32(k), wp, Int32(k), 0, y + j0, Int32(w.rows))
            }
        case .f16, .bf16:
            if rows < halfGemmMinRows {
                halfDot(x, rows: rows, w, j0: j0, cols: cols, y)
            } else {
                halfTiles(x, rows: rows, w, j0: j0, cols: cols, y, worker: worker)
            }
        default:
            preconditionFailure("matmul: weight dtype \(w.dtype)")
        }
    }
}

/// Widens W[j0..<j0+cols] tile by tile into fp32 scratch and multiplies with sgemm.
private func halfTiles(_ x: UnsafePointer<Float>, rows: Int, _ w: WeightMatrix, j0: Int, cols: Int,
                       _ y: UnsafeMutablePointer<Float>, worker: Int) {
    let k = w.cols
    let tile = TileScratch.shared.buffer(worker, count: halfTileRows * k)
    var t0 = 0
    while t0 < cols {
        let tr = min(halfTileRows, cols - t0)
        let raw = UnsafeRawBufferPointer(start: w.data + (j0 + t0) * k * 2, count: tr * k * 2)
        widen(raw, dtype: w.dtype, into: tile, count: tr * k)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(tr), Int32(k),
                    1, x, Int32(k), tile, Int32(k), 0, y + j0 + t0, Int32(w.rows))
        t0 += tr
    }
}

/// SIMD widening of F16/BF16 to fp32.
@inline(__always)
func widen(_ raw: UnsafeRawBufferPointer, dtype: DType, into out: UnsafeMutablePointer<Float>, count: Int) {
    let src = raw.baseAddress!
    var i = 0
    if dtype == .bf16 {
        while i + 16 <= count {
            let h = src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<UInt16>.self)
            UnsafeMutableRawPointer(out + i).storeBytes(of: bf16ToFloat(h), as: SIMD16<Float>.self)
            i += 16
        }
    } else {
        while i + 16 <= count {
            let h = src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<Float16>.self)
            UnsafeMutableRawPointer(out + i).storeBytes(of: SIMD16<Float>(h), as: SIMD16<Float>.self)
            i += 16
        }
    }
    if i < count {
        convertToFloat(UnsafeRawBufferPointer(start: src + 2 * i, count: 2 * (count - i)), dtype: dtype, into: out + i, count: count - i)
    }
}

@inline(__always)
func bf16ToFloat(_ h: SIMD16<UInt16>) -> SIMD16<Float> {
    unsafeBitCast(SIMD16<UInt32>(truncatingIfNeeded: h) &<< 16, to: SIMD16<Float>.self)
}

@inline(__always)
func loadWide(_ p: UnsafeRawPointer, _ i: Int, bf16: Bool) -> SIMD16<Float> {
    if bf16 { return bf16ToFloat(p.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<UInt16>.self)) }
    return SIMD16<Float>(p.loadUnaligned(fromByteOffset: 2 * i, as: SIMD16<Float16>.self))
}

@inline(__always)
func loadF(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD16<Float> {
    UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
}

/// Few-row product with half weights: each weight row is widened once per
/// block of up to 4 input rows while it sits in L1, so memory sees every
/// weight once per call. A row's sum is formed the same way whatever `rows` is.
private func halfDot(_ x: UnsafePointer<Float>, rows: Int, _ w: WeightMatrix, j0: Int, cols: Int, _ y: UnsafeMutablePointer<Float>) {
    let k = w.cols, out = w.rows
    let bf16 = w.dtype == .bf16
    let k16 = k / 16 * 16
    for j in j0..<(j0 + cols) {
        let wr = w.data + j * k * 2
        var r = 0
        while r < rows {
            let nr = min(4, rows - r)
            let x0 = x + r * k
            let x1 = x + min(r + 1, rows - 1) * k
            let x2 = x + min(r + 2, rows - 1) * k
            let x3 = x + min(r + 3, rows - 1) * k
            var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
            var i = 0
            while i < k16 {
                let wv = loadWide(wr, i, bf16: bf16)
                a0.addProduct(loadF(x0, i), wv)
                a1.addProduct(loadF(x1, i), wv)
                a2.addProduct(loadF(x2, i), wv)
                a3.addProduct(loadF(x3, i), wv)
                i += 16
            }
            var s = SIMD4<Float>(a0.sum(), a1.sum(), a2.sum(), a3.sum())
            while i < k {
                let wv: Float = bf16 ? Float(bitPattern: UInt32(wr.load(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
                                     : Float(wr.load(fromByteOffset: 2 * i, as: Float16.self))
                s[0] += x0[i] * wv; s[1] += x1[i] * wv; s[2] += x2[i] * wv; s[3] += x3[i] * wv
                i += 1
            }
            for q in 0..<nr { y[(r + q) * out + j] = s[q] }
            r += 4
        }
    }
}
