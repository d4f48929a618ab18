"""Campaigns: segments (saved rules over members and their frozen memberships), campaigns and channels.

One module per concept; see each module's docstring for its invariants.
"""

from .segments import Segment, SegmentFreeze, SegmentMember

__all__ = ["Segment", "SegmentFreeze", "SegmentMember"]
