"""Segment rules: the schema (campaigns.segments.schema), the compiler to one SQL query
(campaigns.segments.compiler) and the members' stable random buckets (campaigns.segments.buckets)."""
