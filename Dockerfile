# One image for web, worker, gateway and simulator; the command picks the role.
FROM python:3.13-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN apt-get update && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY config config
COPY tenancy tenancy
COPY chargers chargers
COPY restarts restarts
COPY ocpp_gateway ocpp_gateway
COPY api api
COPY templates templates
COPY static static
COPY locale locale
COPY manage.py ./
RUN pip install --no-cache-dir . \
    && SECRET_KEY=build OCPP_PASSWORD_KEY=build DEBUG=0 python manage.py compilemessages -v0 \
    && SECRET_KEY=build OCPP_PASSWORD_KEY=build DEBUG=0 python manage.py collectstatic --noinput -v0
RUN useradd --system portal
USER portal
