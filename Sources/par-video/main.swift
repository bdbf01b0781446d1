import PARVideo
print("par-video \(PARVideo.version)")
