"""Widget: the dashboard's custom widget, rendering the fleet and each target from the stored records."""

from __future__ import annotations

from html import escape
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from events.errors import describe
from functions import wiring
from functions.handlers.observability import observed
from functions.services.widget import WidgetRequest

#: what CloudWatch shows when the widget is added (``describe``: the console asks for the documentation)
DOCS = """## forescale targets

Without parameters: a page of the fleet (SLO state, budget, newest capacity); a target's link opens its view:
load against the forecast band, capacity, forecast error and SLO budget, over the dashboard's time range.

```
params:
  forecastErrorThresholdPercent: 35   # the forecast error alarm's threshold, drawn on the error chart
  target: web-asg                     # optional: open this target
```
"""


def _handler(event: dict[str, Any], context: LambdaContext) -> str:
    if event.get("describe"):
        return DOCS
    try:
        request = WidgetRequest.model_validate(event)
    except ValidationError as error:
        # shown in the widget, naming the parameter (a raised error would show a stack trace instead)
        return f"<p>widget parameters: {escape(describe(error))}</p>"
    return wiring.components().widget.render(request, endpoint=context.invoked_function_arn)


handler = observed(_handler, correlation_id_path=None)
