"""Video files with PyAV, written once for every service: probe, decode, encode, remux.

The worker, the packager and the ingest service all read and write video; the rules that
make their files fit together (H.264 with keyframes on the segment grid, AAC 48 kHz
stereo, timestamps moved onto a stream's timeline) live here and nowhere else. This
package imports PyAV and `services.core` only: no torch, no FastAPI, so an image that
handles video never pulls in the model, and the API image does not install it at all.
"""
