"""Job submission from the client: where jobs go (``context``), submitting and waiting
(``executor``), the handle on a submitted job (``job_client``), the Dispatcher line
(``connection``)."""
