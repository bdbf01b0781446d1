import Foundation

/// Wall time per kind of work while decoding (read by the benchmark).
public enum LayerTimer {
    public enum Kind: Int, CaseIterable { case conv, norm, copy }
    nonisolated(unsafe) static var seconds = [Double](repeating: 0, count: 3)

    public static func reset() { seconds = [0, 0, 0] }
    public static func total(_ k: Kind) -> Double { seconds[k.rawValue] }

    @inline(__always)
    static func time<T>(_ k: Kind, _ body: () -> T) -> T {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let r = body()
        seconds[k.rawValue] += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        return r
    }
}
