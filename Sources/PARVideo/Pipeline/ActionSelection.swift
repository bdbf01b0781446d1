import Foundation

/// The one parser of action lists (`generate --action`, `batch --actions`,
/// label files, `par-video actions LIST`): ids, names and id ranges against
/// the loaded model's classes.
public struct ActionSelection: Sendable {
    /// The model's names, or nil for a model that has ids only.
    public let catalog: ActionCatalog?
    public let classes: Int
    /// What errors call one class: "action" for a video model, "class" for an image model.
    public let noun: String

    public init(catalog: ActionCatalog?, classes: Int, noun: String = "action") {
        self.catalog = catalog
        self.classes = classes
        self.noun = noun
    }

    /// One class: an id or a name (see ActionCatalog.resolve).
    public func resolve(_ text: String) throws -> Int {
        if let catalog { return try catalog.resolve(text, noun: noun) }
        let t = text.trimmingCharacters(in: .whitespaces)
        guard let id = Int(t), (0..<classes).contains(id) else {
            throw ActionError("\(noun) '\(text)': the model has no class names; give an id in 0...\(classes - 1)")
        }
        return id
    }

    /// "all", or a comma list of ids, names and ranges `a-b` (both ends
    /// included), e.g. `0-4,10,PlayingGuitar`; in the order given, each class once.
    public func parse(_ list: String) throws -> [Int] {
        let items = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !items.isEmpty else { throw ActionError("'\(list)' names no classes") }
        if items.count == 1, items[0].lowercased() == "all" { return Array(0..<classes) }
        var ids: [Int] = []
        for item in items {
            for id in try range(item).map(Array.init) ?? [resolve(item)] where !ids.contains(id) { ids.append(id) }
        }
        return ids
    }

    /// `a-b` of two ids, or nil when `item` is not of that form (names may hold hyphens).
    func range(_ item: String) throws -> ClosedRange<Int>? {
        let ends = item.split(separator: "-", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard ends.count == 2, ends.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }) else { return nil }
        guard let a = Int(ends[0]), let b = Int(ends[1]), a <= b, b < classes else {
            throw ActionError("range '\(item)': ids run from low to high within 0...\(classes - 1) (see `par-video actions`)")
        }
        return a...b
    }
}

extension GPTConfig {
    /// The model's classes: its own names, UCF-101's for a 101-class model
    /// without any, ImageNet-1k's for a 1000-class image model, else ids only.
    public var selection: ActionSelection {
        let builtin: ActionCatalog? = numClasses == 101 ? .ucf101 : numClasses == 1000 && cube[0] == 1 ? .imagenet : nil
        return ActionSelection(catalog: actions.map { ActionCatalog(names: $0) } ?? builtin, classes: numClasses, noun: makesImages ? "class" : "action")
    }
}
