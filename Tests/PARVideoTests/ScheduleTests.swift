import Foundation
import XCTest
@testable import PARVideo

/// Step counts, the PAR order and its inverse (docs/METHOD.md, "Token order" and "Schedule").
final class ScheduleTests: XCTestCase {
    func config(_ cube: [Int], _ n: Int) -> GPTConfig {
        GPTConfig(dim: 32, nLayer: 1, nHead: 2, vocabSize: 16, numClasses: 2, cube: cube, parallel: n,
                  rope: cube[0] == 1 ? .twoD : .threeD)
    }

    func testStepCounts() {
        let table: [([Int], [Int])] = [([5, 8, 8], [320, 83, 35]), ([5, 16, 16], [1280, 323, 95]), ([1, 24, 24], [576, 147, 51])]
        for (cube, steps) in table {
            XCTAssertEqual([1, 4, 16].map { config(cube, $0).steps }, steps, "\(cube)")
        }
    }

    /// The generator's plan feeds every position once and predicts every token once.
    func testPlanCoversEverySequenceIndex() throws {
        for (cube, n) in [([5, 8, 8], 1), ([5, 8, 8], 4), ([5, 8, 8], 16), ([1, 24, 24], 4), ([5, 16, 16], 16)] {
            let c = config(cube, n)
            let gen = PARGenerator(model: GPT(config: c, weights: GPTWeights(randomFor: c, dtype: .f32)))
            var predicted = [Int](), positions = [Int]()
            for step in 0..<c.steps {
                let p = gen.plan(step: step, classToken: 0, seq: [Int32](repeating: 0, count: c.tokensPerClip))
                predicted += p.predicts; positions += p.positions
                XCTAssertEqual(p.positions.count, step == 0 || step < n ? 1 : n)
            }
            XCTAssertEqual(predicted, Array(0..<c.tokensPerClip), "\(cube) n=\(n)")
            XCTAssertEqual(positions, Array(0..<c.tokensPerClip), "\(cube) n=\(n)")
        }
    }

    func testOrderAndInverseRoundTrip() {
        for cube in [[5, 8, 8], [5, 16, 16], [1, 24, 24], [2, 8, 8], [4, 8, 8], [1, 16, 16], [3, 12, 18]] {
            for n in [1, 4, 9, 16, 36] where cube[1] % Int(Double(n).squareRoot()) == 0 && cube[2] % Int(Double(n).squareRoot()) == 0 {
                let order = PAROrder(T: cube[0], H: cube[1], W: cube[2], parallel: n)
                let N = cube.reduce(1, *)
                let raster = (0..<N).map { Int32($0) }
                XCTAssertEqual(Set(order.rasterOf).count, N)
                XCTAssertEqual(order.toRaster(order.toSequence(raster)), raster, "\(cube) n=\(n)")
                let seq = order.toSequence(raster)
                XCTAssertEqual(order.toSequence(order.toRaster(seq)), seq)
            }
        }
    }

    /// For T = 1 the order is reshape(s, H/s, s, W/s).permute(1, 3, 0, 2);
    /// for n = 1 plain raster; groups hold one offset in every region.
    func testOrderMatchesSpecFormula() {
        let order = PAROrder(T: 1, H: 8, W: 8, parallel: 4)
        XCTAssertEqual(Array(order.cells.prefix(5)), [Cell(t: 0, y: 0, x: 0), Cell(t: 0, y: 0, x: 4), Cell(t: 0, y: 4, x: 0),
                                                      Cell(t: 0, y: 4, x: 4), Cell(t: 0, y: 0, x: 1)])
        XCTAssertEqual(PAROrder(T: 2, H: 4, W: 4, parallel: 1).rasterOf, Array(0..<32))
        let video = PAROrder(T: 5, H: 16, W: 16, parallel: 16)
        for (k, cell) in video.cells.enumerated() {
            let (a, i) = (cell.y / 4, cell.y % 4), (b, j) = (cell.x / 4, cell.x % 4)
            XCTAssertEqual(k, (((cell.t * 4 + i) * 4 + j) * 4 + a) * 4 + b)
        }
    }
}
