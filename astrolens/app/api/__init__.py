"""The local REST API: FastAPI served by uvicorn inside the agent's own asyncio loop.

Handlers only await the `AgentController` the window uses, so the API and the window can
never disagree, and nothing here touches the store, torch or the network directly.
"""
