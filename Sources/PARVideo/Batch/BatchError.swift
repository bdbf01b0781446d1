/// What goes wrong in a batch run or a merge, as one line. `.usage`: the
/// command must change (a bad plan, another run already in the folder, a
/// shard count that differs from the folder's), exit code 2. `.failure`: the
/// run failed while working (disk, encoder, a damaged folder), exit code 1.
public struct BatchError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case usage, failure }
    public let kind: Kind
    public let description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }

    public static func usage(_ description: String) -> BatchError { BatchError(.usage, description) }
    public static func failure(_ description: String) -> BatchError { BatchError(.failure, description) }
}
