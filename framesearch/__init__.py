"""framesearch: search for moments in video with CLIP vectors stored in Qdrant."""

__version__ = "0.1.0"
