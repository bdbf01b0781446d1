import Foundation

/// The sample batch of an image run: `arr_0.npy`, uint8 N x H x W x 3, in a
/// zip archive with the member stored (no compression), as `numpy.savez`
/// writes it and the ADM FID evaluator and PAR's `sample_c2i_ddp.py` read it.
/// Zip64 fields are added only when the array passes 4 GiB.
public enum NPZ {
    static let member = "arr_0.npy"

    /// Writes `count` images of `height` x `width` x 3 bytes, image i from
    /// `image(i)` (streamed: one image in memory at a time), as a new file
    /// `url`, atomically: nothing is at `url` until the archive is complete.
    public static func writeImages(to url: URL, count: Int, height: Int, width: Int, overwrite: Bool,
                                   image: (Int) throws -> [UInt8]) throws {
        try writeImages(to: url, count: count, height: height, width: width, overwrite: overwrite, forceZip64: false, image: image)
    }

    /// `forceZip64`: the zip64 layout at any size (for tests).
    static func writeImages(to url: URL, count: Int, height: Int, width: Int, overwrite: Bool, forceZip64: Bool,
                            image: (Int) throws -> [UInt8]) throws {
        guard count >= 1, let frame = Checked.product([height, width, 3]), let pixels = Checked.multiply(count, frame) else {
            throw VideoIOError("cannot write \(url.path): \(count) images of \(width)x\(height) do not fit a byte count")
        }
        let header = NPY.header(descr: "|u1", shape: [count, height, width, 3])
        guard let size = Checked.sum([header.count, pixels]) else { throw VideoIOError("cannot write \(url.path): too large") }
        try AtomicOutput.write(to: url, overwrite: overwrite) { tmp in
            let fd = try AtomicOutput.step { () throws -> Int32 in
                let fd = open(tmp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw VideoIOError("cannot write \(tmp.path): \(String(cString: strerror(errno)))") }
                return fd
            }
            defer { close(fd) }
            func put(_ bytes: [UInt8], at offset: Int? = nil) throws {
                try AtomicOutput.step {
                    var done = 0
                    while done < bytes.count {
                        let n = bytes.withUnsafeBytes { b in
                            offset.map { pwrite(fd, b.baseAddress! + done, bytes.count - done, off_t($0 + done)) }
                                ?? write(fd, b.baseAddress! + done, bytes.count - done)
                        }
                        if n < 0, errno == EINTR { continue }
                        guard n > 0 else { throw VideoIOError("cannot write \(url.path): \(String(cString: strerror(errno)))") }
                        done += n
                    }
                }
            }
            let zip64 = forceZip64 || size >= 0xFFFF_FFFF
            try put(localHeader(size: size, crc: 0, zip64: zip64))
            var crc = CRC32()
            crc.update(Array(header))
            try put(Array(header))
            for i in 0..<count {
                let bytes = try image(i)
                guard bytes.count == frame else { throw VideoIOError("cannot write \(url.path): image \(i) has \(bytes.count) bytes, not \(frame)") }
                crc.update(bytes)
                try put(bytes)
            }
            let local = localHeader(size: size, crc: crc.value, zip64: zip64)
            try put(local, at: 0)
            try put(directory(size: size, crc: crc.value, zip64: zip64, at: local.count + size))
        }
    }

    private static func le(_ v: UInt64, _ bytes: Int) -> [UInt8] { (0..<bytes).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

    /// Version 2.0 (4.5 with zip64), stored, no flags, 1980-01-01 00:00 (so the same images give the same bytes).
    private static func common(size: Int, crc: UInt32, zip64: Bool) -> [UInt8] {
        let small = zip64 ? 0xFFFF_FFFF : UInt64(size)
        return le(zip64 ? 45 : 20, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0x21, 2) + le(UInt64(crc), 4)
            + le(small, 4) + le(small, 4) + le(UInt64(member.utf8.count), 2) + le(zip64 ? 20 : 0, 2)
    }

    private static func extra(size: Int, zip64: Bool) -> [UInt8] {
        zip64 ? le(1, 2) + le(16, 2) + le(UInt64(size), 8) + le(UInt64(size), 8) : []
    }

    static func localHeader(size: Int, crc: UInt32, zip64: Bool) -> [UInt8] {
        le(0x0403_4B50, 4) + common(size: size, crc: crc, zip64: zip64) + Array(member.utf8) + extra(size: size, zip64: zip64)
    }

    /// Central directory, zip64 end records when needed, end of central directory.
    static func directory(size: Int, crc: UInt32, zip64: Bool, at offset: Int) -> [UInt8] {
        let entry = le(0x0201_4B50, 4) + le(zip64 ? 45 : 20, 2) + common(size: size, crc: crc, zip64: zip64)
            + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(0, 4) + Array(member.utf8) + extra(size: size, zip64: zip64)
        var out = entry
        if zip64 {
            let end64 = offset + entry.count
            out += le(0x0606_4B50, 4) + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4) + le(1, 8) + le(1, 8)
                + le(UInt64(entry.count), 8) + le(UInt64(offset), 8)
            out += le(0x0706_4B50, 4) + le(0, 4) + le(UInt64(end64), 8) + le(1, 4)
        }
        out += le(0x0605_4B50, 4) + le(0, 2) + le(0, 2) + le(1, 2) + le(1, 2) + le(UInt64(entry.count), 4)
            + le(zip64 ? 0xFFFF_FFFF : UInt64(offset), 4) + le(0, 2)
        return out
    }
}

/// CRC-32 (IEEE, reflected), as zip stores it.
struct CRC32 {
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }
    private var state: UInt32 = 0xFFFF_FFFF

    mutating func update(_ bytes: [UInt8]) {
        var c = state
        Self.table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        state = c
    }

    var value: UInt32 { state ^ 0xFFFF_FFFF }
}
