import Foundation

/// Action classes: the 101 UCF-101 classes by default, or the names a model
/// bundle carries (`actions` in docs/BUNDLE.md). Ids are 0-based positions.
public struct ActionCatalog: Sendable, Equatable {
    public let names: [String]
    /// Other names of each class (ImageNet's WordNet synonyms), accepted by `resolve`.
    public let aliases: [[String]]

    public init(names: [String], aliases: [[String]]? = nil) {
        precondition(!names.isEmpty, "an action catalog needs at least one name")
        precondition(aliases == nil || aliases!.count == names.count, "one alias list per class")
        self.names = names
        self.aliases = aliases ?? Array(repeating: [], count: names.count)
    }

    /// UCF-101 in its own classInd.txt order (id = classInd number - 1),
    /// the same list as tools/ucf101_classes.txt.
    public static let ucf101 = ActionCatalog(names: [
        "ApplyEyeMakeup", "ApplyLipstick", "Archery", "BabyCrawling", "BalanceBeam", "BandMarching",
        "BaseballPitch", "Basketball", "BasketballDunk", "BenchPress", "Biking", "Billiards", "BlowDryHair",
        "BlowingCandles", "BodyWeightSquats", "Bowling", "BoxingPunchingBag", "BoxingSpeedBag",
        "BreastStroke", "BrushingTeeth", "CleanAndJerk", "CliffDiving", "CricketBowling", "CricketShot",
        "CuttingInKitchen", "Diving", "Drumming", "Fencing", "FieldHockeyPenalty", "FloorGymnastics",
        "FrisbeeCatch", "FrontCrawl", "GolfSwing", "Haircut", "Hammering", "HammerThrow", "HandstandPushups",
        "HandstandWalking", "HeadMassage", "HighJump", "HorseRace", "HorseRiding", "HulaHoop", "IceDancing",
        "JavelinThrow", "JugglingBalls", "JumpingJack", "JumpRope", "Kayaking", "Knitting", "LongJump",
        "Lunges", "MilitaryParade", "Mixing", "MoppingFloor", "Nunchucks", "ParallelBars", "PizzaTossing",
        "PlayingCello", "PlayingDaf", "PlayingDhol", "PlayingFlute", "PlayingGuitar", "PlayingPiano",
        "PlayingSitar", "PlayingTabla", "PlayingViolin", "PoleVault", "PommelHorse", "PullUps", "Punch",
        "PushUps", "Rafting", "RockClimbingIndoor", "RopeClimbing", "Rowing", "SalsaSpin", "ShavingBeard",
        "Shotput", "SkateBoarding", "Skiing", "Skijet", "SkyDiving", "SoccerJuggling", "SoccerPenalty",
        "StillRings", "SumoWrestling", "Surfing", "Swing", "TableTennisShot", "TaiChi", "TennisSwing",
        "ThrowDiscus", "TrampolineJumping", "Typing", "UnevenBars", "VolleyballSpiking", "WalkingWithDog",
        "WallPushups", "WritingOnBoard", "YoYo"
    ])

    public var count: Int { names.count }

    /// `text` as an id ("12") or a name, case-insensitively and ignoring
    /// spaces, underscores and hyphens ("apply eye makeup" = ApplyEyeMakeup);
    /// errors call a class `noun` (an image model's are classes, not actions).
    public func resolve(_ text: String, noun: String = "action") throws -> Int {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if !trimmed.isEmpty, trimmed.allSatisfy(\.isASCII), trimmed.allSatisfy(\.isNumber) {
            guard let id = Int(trimmed), id < names.count else {
                throw ActionError("\(noun) id \(trimmed) is out of range: ids are 0...\(names.count - 1) (see `par-video actions`)")
            }
            return id
        }
        let key = Self.normalize(trimmed)
        // Names before aliases; a spelling that several classes share (ImageNet's two cranes) needs the id.
        for candidates in [names.map { [$0] }, aliases] where !key.isEmpty {
            let ids = candidates.indices.filter { candidates[$0].contains { Self.normalize($0) == key } }
            if ids.count == 1 { return ids[0] }
            if ids.count > 1 {
                throw ActionError("'\(text)' names \(ids.count) classes: " + ids.map { "\($0) (\(names[$0]))" }.joined(separator: ", ")
                                  + "; give the id")
            }
        }
        let close = suggestions(for: trimmed)
        let hint = close.isEmpty ? "" : "; closest: " + close.joined(separator: ", ")
        throw ActionError("unknown \(noun) '\(text)'\(hint) (see `par-video actions`)")
    }

    /// Up to `limit` names nearest to `text`: names that contain it first,
    /// then by edit distance (ties in id order).
    public func suggestions(for text: String, limit: Int = 3) -> [String] {
        let key = Self.normalize(text)
        guard !key.isEmpty else { return [] }
        let ranked = names.enumerated().map { id, name -> (score: Int, id: Int) in
            let n = Self.normalize(name)
            if n.contains(key) { return (0, id) }
            return (1 + Self.editDistance(key, n), id)
        }
        return ranked.sorted { ($0.score, $0.id) < ($1.score, $1.id) }
            .prefix(limit).map { names[$0.id] }
    }

    static func normalize(_ s: String) -> String {
        String(s.lowercased().filter { $0.isLetter || $0.isNumber })
    }

    /// Levenshtein distance over characters.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count), cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }
}

/// A bad `--action` value, as one line.
public struct ActionError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
