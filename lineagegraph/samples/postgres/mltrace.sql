--
-- PostgreSQL database dump
--

\restrict CDuAtD38mBs8oyc1KkijwJhgEa6tylequlGKNf8rKFs9A95rOf8JA3aWbyQegtb

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: pointertypeenum; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.pointertypeenum AS ENUM (
    'DATA',
    'MODEL',
    'ENDPOINT',
    'UNKNOWN'
);


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: component_run_dependencies; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.component_run_dependencies (
    component_run_id integer NOT NULL,
    depends_on_component_run_id integer NOT NULL
);


--
-- Name: component_runs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.component_runs (
    id integer NOT NULL,
    component_name character varying,
    notes character varying,
    git_hash character varying,
    git_tags bytea,
    code_snapshot bytea,
    start_timestamp timestamp without time zone,
    end_timestamp timestamp without time zone,
    stale bytea
);


--
-- Name: component_runs_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.component_runs_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: component_runs_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.component_runs_id_seq OWNED BY public.component_runs.id;


--
-- Name: component_runs_inputs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.component_runs_inputs (
    input_path_name character varying,
    input_path_value bytea,
    component_run_id integer
);


--
-- Name: component_runs_outputs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.component_runs_outputs (
    output_path_name character varying,
    output_path_value bytea,
    component_run_id integer
);


--
-- Name: component_tags; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.component_tags (
    component_name character varying,
    tag_name character varying
);


--
-- Name: components; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.components (
    name character varying NOT NULL,
    description character varying,
    owner character varying
);


--
-- Name: io_pointers; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.io_pointers (
    name character varying NOT NULL,
    value bytea NOT NULL,
    pointer_type public.pointertypeenum,
    flag boolean
);


--
-- Name: tags; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tags (
    name character varying NOT NULL
);


--
-- Name: component_runs id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.component_runs ALTER COLUMN id SET DEFAULT nextval('public.component_runs_id_seq'::regclass);


--
-- Data for Name: component_run_dependencies; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.component_run_dependencies (component_run_id, depends_on_component_run_id) FROM stdin;
2	1
4	2
5	3
5	4
6	5
6	4
8	7
9	8
10	9
10	5
\.


--
-- Data for Name: component_runs; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.component_runs (id, component_name, notes, git_hash, git_tags, code_snapshot, start_timestamp, end_timestamp, stale) FROM stdin;
1	ingest		a1b2c3d	\\x8005950b000000000000005d948c0476312e3094612e	\\x64656620696e6765737428293a20706173730a	2024-01-01 09:00:00	2024-01-01 09:30:00	\\x80055d942e
2	clean		a1b2c3d	\\x80055d942e	\\x64656620636c65616e28293a20706173730a	2024-01-02 09:00:00	2024-01-02 09:30:00	\\x80055d942e
3	label		a1b2c3d	\\x80055d942e	\\x646566206c6162656c28293a20706173730a	2024-01-03 09:00:00	2024-01-03 09:30:00	\\x80055d942e
4	featurize	first feature set, 42 columns	a1b2c3d	\\x80055d942e	\\x64656620666561747572697a6528293a20706173730a	2024-01-04 09:00:00	2024-01-04 09:30:00	\\x80055d942e
5	train		e4f5a6b	\\x8005950f000000000000005d948c086d6f64656c2d763194612e	\\x64656620747261696e28293a20706173730a	2024-01-05 09:00:00	2024-01-05 09:30:00	\\x80055d942e
6	infer		e4f5a6b	\\x80055d942e	\\x64656620696e66657228293a20706173730a	2024-01-06 09:00:00	2024-01-06 09:30:00	\\x80055d942e
7	ingest		a1b2c3d	\\x80055d942e	\\x64656620696e6765737428293a20706173730a	2024-03-01 09:00:00	2024-03-01 09:30:00	\\x80055d942e
8	clean		c0ffee1	\\x80055d942e	\\x64656620636c65616e28293a20706173730a	2024-03-02 09:00:00	2024-03-02 09:30:00	\\x80055d942e
9	featurize		c0ffee1	\\x80055d942e	\\x64656620666561747572697a6528293a20706173730a	2024-03-03 09:00:00	2024-03-03 09:30:00	\\x80055d942e
10	infer	March scoring batch	e4f5a6b	\\x80055d942e	\\x64656620696e66657228293a20706173730a	2024-03-04 09:00:00	2024-03-04 09:30:00	\\x80059528000000000000005d948c21747261696e20284944203529207761732072756e20353920646179732061676f2e94612e
\.


--
-- Data for Name: component_runs_inputs; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.component_runs_inputs (input_path_name, input_path_value, component_run_id) FROM stdin;
s3://raw-bucket/events/2024-01.csv	\\x	1
/data/lake/raw.parquet	\\x	2
s3://raw-bucket/chargebacks.csv	\\x	3
/data/lake/clean.parquet	\\x	4
/data/lake/labels.parquet	\\x	5
/data/lake/features.parquet	\\x	5
/data/lake/features.parquet	\\x	6
models/fraud.joblib	\\x	6
s3://raw-bucket/events/2024-03.csv	\\x	7
/data/lake/raw.parquet	\\x717dd51f21d6c50409049d13b62873900f64c13c85127e7b4622bca2cdacf972	8
/data/lake/clean.parquet	\\x717dd51f21d6c50409049d13b62873900f64c13c85127e7b4622bca2cdacf972	9
models/fraud.joblib	\\x	10
/data/lake/features.parquet	\\x717dd51f21d6c50409049d13b62873900f64c13c85127e7b4622bca2cdacf972	10
\.


--
-- Data for Name: component_runs_outputs; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.component_runs_outputs (output_path_name, output_path_value, component_run_id) FROM stdin;
/data/lake/raw.parquet	\\x	1
/data/lake/clean.parquet	\\x	2
/data/lake/labels.parquet	\\x	3
/data/lake/features.parquet	\\x	4
models/fraud.joblib	\\x	5
pred-0001	\\x	6
pred-0002	\\x	6
/data/lake/raw.parquet	\\x717dd51f21d6c50409049d13b62873900f64c13c85127e7b4622bca2cdacf972	7
/data/lake/clean.parquet	\\x717dd51f21d6c50409049d13b62873900f64c13c85127e7b4622bca2cdacf972	8
/data/lake/features.parquet	\\x717dd51f21d6c50409049d13b62873900f64c13c85127e7b4622bca2cdacf972	9
pred-0004	\\x	10
pred-0003	\\x	10
\.


--
-- Data for Name: component_tags; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.component_tags (component_name, tag_name) FROM stdin;
ingest	etl
clean	etl
label	labels
featurize	features
train	ml
train	training
infer	serving
infer	ml
\.


--
-- Data for Name: components; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.components (name, description, owner) FROM stdin;
ingest	Copies the raw event export into the lake	ana
clean	Drops malformed events, deduplicates	ana
label	Joins chargebacks to events	chen
featurize	Rolling spend features per card	ana
train	Gradient-boosted fraud model	bob
infer	Scores new transactions	bob
\.


--
-- Data for Name: io_pointers; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.io_pointers (name, value, pointer_type, flag) FROM stdin;
s3://raw-bucket/events/2024-01.csv	\\x	UNKNOWN	f
/data/lake/raw.parquet	\\x	UNKNOWN	f
/data/lake/clean.parquet	\\x	UNKNOWN	f
s3://raw-bucket/chargebacks.csv	\\x	UNKNOWN	f
/data/lake/labels.parquet	\\x	UNKNOWN	f
/data/lake/features.parquet	\\x	UNKNOWN	f
models/fraud.joblib	\\x	UNKNOWN	f
pred-0001	\\x	UNKNOWN	f
s3://raw-bucket/events/2024-03.csv	\\x	UNKNOWN	f
/data/lake/raw.parquet	\\x717dd51f21d6c50409049d13b62873900f64c13c85127e7b4622bca2cdacf972	UNKNOWN	f
/data/lake/clean.parquet	\\x717dd51f21d6c50409049d13b62873900f64c13c85127e7b4622bca2cdacf972	UNKNOWN	f
/data/lake/features.parquet	\\x717dd51f21d6c50409049d13b62873900f64c13c85127e7b4622bca2cdacf972	UNKNOWN	f
pred-0004	\\x	UNKNOWN	f
pred-0002	\\x	UNKNOWN	t
pred-0003	\\x	UNKNOWN	t
\.


--
-- Data for Name: tags; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.tags (name) FROM stdin;
etl
labels
features
ml
training
serving
\.


--
-- Name: component_runs_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.component_runs_id_seq', 10, true);


--
-- Name: io_pointers _iop_uc; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.io_pointers
    ADD CONSTRAINT _iop_uc PRIMARY KEY (name, value);


--
-- Name: component_run_dependencies component_run_dependencies_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.component_run_dependencies
    ADD CONSTRAINT component_run_dependencies_pkey PRIMARY KEY (component_run_id, depends_on_component_run_id);


--
-- Name: component_runs component_runs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.component_runs
    ADD CONSTRAINT component_runs_pkey PRIMARY KEY (id);


--
-- Name: components components_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.components
    ADD CONSTRAINT components_pkey PRIMARY KEY (name);


--
-- Name: tags tags_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tags
    ADD CONSTRAINT tags_pkey PRIMARY KEY (name);


--
-- Name: component_run_dependencies component_run_dependencies_component_run_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.component_run_dependencies
    ADD CONSTRAINT component_run_dependencies_component_run_id_fkey FOREIGN KEY (component_run_id) REFERENCES public.component_runs(id);


--
-- Name: component_run_dependencies component_run_dependencies_depends_on_component_run_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.component_run_dependencies
    ADD CONSTRAINT component_run_dependencies_depends_on_component_run_id_fkey FOREIGN KEY (depends_on_component_run_id) REFERENCES public.component_runs(id);


--
-- Name: component_runs component_runs_component_name_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.component_runs
    ADD CONSTRAINT component_runs_component_name_fkey FOREIGN KEY (component_name) REFERENCES public.components(name);


--
-- Name: component_runs_inputs component_runs_inputs_component_run_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.component_runs_inputs
    ADD CONSTRAINT component_runs_inputs_component_run_id_fkey FOREIGN KEY (component_run_id) REFERENCES public.component_runs(id);


--
-- Name: component_runs_inputs component_runs_inputs_input_path_name_input_path_value_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.component_runs_inputs
    ADD CONSTRAINT component_runs_inputs_input_path_name_input_path_value_fkey FOREIGN KEY (input_path_name, input_path_value) REFERENCES public.io_pointers(name, value);


--
-- Name: component_runs_outputs component_runs_outputs_component_run_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.component_runs_outputs
    ADD CONSTRAINT component_runs_outputs_component_run_id_fkey FOREIGN KEY (component_run_id) REFERENCES public.component_runs(id);


--
-- Name: component_runs_outputs component_runs_outputs_output_path_name_output_path_value_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.component_runs_outputs
    ADD CONSTRAINT component_runs_outputs_output_path_name_output_path_value_fkey FOREIGN KEY (output_path_name, output_path_value) REFERENCES public.io_pointers(name, value);


--
-- Name: component_tags component_tags_component_name_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.component_tags
    ADD CONSTRAINT component_tags_component_name_fkey FOREIGN KEY (component_name) REFERENCES public.components(name);


--
-- Name: component_tags component_tags_tag_name_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.component_tags
    ADD CONSTRAINT component_tags_tag_name_fkey FOREIGN KEY (tag_name) REFERENCES public.tags(name);


--
-- PostgreSQL database dump complete
--

\unrestrict CDuAtD38mBs8oyc1KkijwJhgEa6tylequlGKNf8rKFs9A95rOf8JA3aWbyQegtb

