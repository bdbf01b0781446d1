"""tools/ucf101_classes.txt: the 101 UCF-101 classes in classInd.txt order (id = line - 1)."""
from pathlib import Path

CLASSES = Path(__file__).resolve().parent.parent / "ucf101_classes.txt"


def test_ucf101_class_list():
    names = CLASSES.read_text().split("\n")
    assert names[-1] == "" and "" not in names[:-1]  # one name a line, final newline
    names = names[:-1]
    assert len(names) == 101 and len(set(names)) == 101
    # classInd.txt: 1 ApplyEyeMakeup ... 101 YoYo; spot checks across the list.
    assert names[0] == "ApplyEyeMakeup"
    assert names[12] == "BlowDryHair"
    assert names[62] == "PlayingGuitar"
    assert names[100] == "YoYo"
    assert all(n.isascii() and n.isalnum() for n in names)
    # classInd order is case-insensitive alphabetical order.
    assert names == sorted(names, key=str.lower)
