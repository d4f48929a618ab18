from django import template

from console.empty_states import empty_state

register = template.Library()


@register.simple_tag
def console_empty_state(opts):
    """The empty-list sentence of the model whose options are given (None when it has none of its own)."""
    return empty_state(opts.label)
